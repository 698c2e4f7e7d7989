package dev.livetap.fleet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The fleet bench with its hosts as separate agent JVMs, at a size that takes seconds. */
class AgentFleetBenchTest {
    @Test
    @RequiresTun
    @RequiresRoot
    @Timeout(value = 480, unit = TimeUnit.SECONDS)
    void twoAgentProcessesMoveEveryVmOncePerRoundUnderTheirBudgetAndLookAheadAndLeakNoFd() throws Exception {
        List<String> lines = new ArrayList<>();
        JsonNode r = AgentFleetBench.run(new AgentFleetBench.Options(2, 3, 2, 1, FreezeBudget.Settings.fixed(2)
                .withLookAhead(FreezeBudget.LookAhead.fixed(0)), "2", 3,
                Duration.ofSeconds(60), 128), lines::add);
        System.out.println("agent fleet bench: " + r);
        assertTrue(FleetBench.hasRequired(r), r.toString());
        assertEquals(12, r.path("completed").asInt(), "2 hosts x 3 VMs x 2 measured rounds: " + r + "\n" + lines);
        assertEquals(0, r.path("failed").asInt(), r.toString());
        assertEquals(0, r.path("fds_leaked").asInt(), "no TAP fd left behind, no fd gained by the agents or the bench: " + r);
        assertTrue(r.path("max_frozen_at_once_per_host").asInt() >= 1 && r.path("max_frozen_at_once_per_host").asInt() <= 2,
                "the VMMs' own stamps must show at most K=2 frozen at once per host: " + r);
        assertEquals("switchover", r.path("gate").asText(), "the agents take their permit in the driver's gate by default");
        assertEquals("0", r.path("look_ahead").asText(), "K + 0 = 2 of the 3 drivers in their run at once: " + r);
        assertTrue(r.path("permit_held_ms").path("p50").asDouble() > 0 && r.path("permit_not_frozen_ms").path("p50").asDouble() >= 0,
                "the permit's span holds each freeze: " + r);
        JsonNode d = r.path("downtime_ms");
        assertTrue(d.path("p50").asDouble() > 0 && d.path("p50").asDouble() <= d.path("p99").asDouble()
                && d.path("p99").asDouble() <= d.path("max").asDouble(), r.toString());
        assertTrue(r.path("migrations_per_s").asDouble() > 0, r.toString());
        assertEquals(2, r.path("budget").path("k").asInt(), r.toString());
        assertEquals("[2,2,2]", r.path("budget").path("k_per_round_per_host").path("h1").toString(),
                "a fixed K after each of the 3 rounds: " + r.path("budget"));
        assertEquals(2, r.path("per_host").size(), r.toString());
        // a sample at set-up and one after each of the 3 rounds, per host
        assertEquals(8, r.path("agent_samples").size(), r.toString());
        assertEquals(3, lines.stream().filter(l -> l.startsWith("round ")).count(), String.join("\n", lines));
    }
}
