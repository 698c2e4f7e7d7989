package dev.livetap.fleet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

class FleetSoakTest {
    /** Samples after 0, 100, … migrations; heap MB from {@code heap}, the rest constant. */
    private static ObjectNode report(double... heap) {
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        ArrayNode s = r.putArray("agent_samples");
        for (int i = 0; i < heap.length; i++) {
            s.addObject().put("after_migrations", i * 100L).put("heap_used_after_gc_mb", heap[i]).put("rss_mb", 400.0)
                    .put("fds", 25).put("threads", 60);
        }
        return r;
    }

    @Test
    void aHeapThatKeepsGrowingAfterTheWarmUpIsGrowingEvenWhenTheWarmUpWasHigher() {
        ObjectNode r = report(30, 14, 14.1, 14.2, 14.6, 15.0, 15.4);
        FleetSoak.verdict(r, 1);
        assertEquals("growing", r.path("soak").path("verdict").asText(), r.toString());
        assertEquals("heap_used_after_gc_mb", r.path("soak").path("grown").asText());
        assertEquals(100, r.path("soak").path("baseline_after_migrations").asLong());
    }

    @Test
    void oneOutlyingSampleAtEitherEndDoesNotDecideTheVerdict() {
        ObjectNode r = report(14, 16.5, 15.0, 15.0, 15.1, 15.0, 15.1, 17.0);
        FleetSoak.verdict(r, 1);
        assertEquals("flat", r.path("soak").path("verdict").asText(), r.toString());
        assertEquals(0.67, r.path("soak").path("growth_percent").path("heap_used_after_gc_mb").asDouble(), 0.01, r.toString());
        assertEquals(13.33, r.path("soak").path("max_growth_percent").path("heap_used_after_gc_mb").asDouble(), 0.01);
    }

    @Test
    void withoutTwoSamplesAfterTheWarmUpNothingIsJudged() {
        ObjectNode r = report(14, 15);
        FleetSoak.verdict(r, 1);
        assertEquals("not measured", r.path("soak").path("verdict").asText(), r.toString());
    }
}
