package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.HostProgress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code fleet status}: the JSON object's progress fields and the human-readable table built from it. */
class FleetStatusTextTest {
    @Test
    void statusPrintsPerHostProgressATotalRowTheRateAndTheEta() {
        Plan plan = new Plan("0.3.0", List.of("h1", "h2", "h3"), 2, 1, 10.0, 5_000, 60_000);
        UpgradeCoordinator.Status s = new UpgradeCoordinator.Status(4, plan, Map.of("vm5", "m-4-9"),
                Map.of("vm1", new UpgradeCoordinator.StepRecord("h1", "m-1-1", true, "completed")), 1, false, List.of(), false,
                "running", List.of("h2"), List.of(), new UpgradeCoordinator.Progress(Map.of(
                        "h1", new HostProgress(1, 0, 1, 0, 3, "upgrading", 2),
                        "h2", new HostProgress(0, 0, 0, 2, 4, "unreachable"),
                        "h3", new HostProgress(0, 0, 0, 0, -1, "waiting")),
                        new HostProgress(1, 0, 1, 2, 11, "running", 2), true, 2.5, 4.8));
        JsonNode o = FleetCommand.Status.statusJson(s);
        assertEquals("running", o.path("state").asText());
        assertEquals(5000, o.path("plan").path("step_timeout_ms").asLong());
        assertEquals(60000, o.path("plan").path("host_down_limit_ms").asLong());
        assertEquals("h2", o.path("unreachable_hosts").path(0).asText());
        JsonNode h2 = o.path("progress").path("hosts").path("h2");
        assertEquals(2, h2.path("unknown").asInt());
        assertEquals(2, o.path("progress").path("hosts").path("h1").path("skipped").asInt(), "skipped apart from done");
        assertEquals(1, o.path("progress").path("hosts").path("h1").path("done").asInt());
        assertEquals("unreachable", h2.path("state").asText());
        assertEquals(-1, o.path("progress").path("hosts").path("h3").path("left").asInt());
        assertEquals(11, o.path("progress").path("total").path("left").asInt());
        assertEquals(2.5, o.path("progress").path("steps_per_s").asDouble());
        assertEquals(4.8, o.path("progress").path("eta_s").asDouble());

        String text = FleetCommand.Status.text(o);
        List<String> lines = text.lines().toList();
        assertEquals("plan to 0.3.0 (coordinator epoch 4): running", lines.get(0));
        assertTrue(lines.get(1).matches("HOST\\s+STATE\\s+DONE\\s+SKIPPED\\s+FAILED\\s+IN FLIGHT\\s+UNKNOWN\\s+LEFT"), text);
        assertTrue(lines.get(3).matches("h1\\s+upgrading\\s+1\\s+2\\s+0\\s+1\\s+0\\s+3"), text);
        assertTrue(lines.get(4).matches("h2\\s+unreachable\\s+0\\s+0\\s+0\\s+0\\s+2\\s+4"), text);
        assertTrue(lines.get(5).matches("h3\\s+waiting\\s+0\\s+0\\s+0\\s+0\\s+0\\s+\\?"), text);
        assertTrue(lines.get(6).matches("total\\s+running\\s+1\\s+2\\s+0\\s+1\\s+2\\s+11"), text);
        assertEquals("failures 1 of at most 1; rate 2.50 steps/s; ETA 5 s (hosts not asked yet estimated)", lines.get(7));
    }

    @Test
    void noPlanIsOneLine() {
        UpgradeCoordinator.Status s = new UpgradeCoordinator.Status(1, null, Map.of(), Map.of(), 0, false, List.of(), false, "none",
                List.of(), List.of(), null);
        assertEquals("no plan (coordinator epoch 1)", FleetCommand.Status.text(FleetCommand.Status.statusJson(s)));
    }
}
