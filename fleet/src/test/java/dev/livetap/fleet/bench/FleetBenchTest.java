package dev.livetap.fleet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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

class FleetBenchTest {
    @Test
    void theOverlapOfFreezeWindowsCountsTouchingWindowsOnce() {
        assertEquals(0, FleetBench.maxOverlap(List.of()));
        assertEquals(1, FleetBench.maxOverlap(List.of(new long[] {0, 10}, new long[] {10, 20})));
        assertEquals(2, FleetBench.maxOverlap(List.of(new long[] {0, 10}, new long[] {5, 20}, new long[] {10, 30})));
        assertEquals(3, FleetBench.maxOverlap(List.of(new long[] {0, 100}, new long[] {1, 2}, new long[] {1, 50},
                new long[] {60, 70})));
    }

    @Test
    void onlyOneHostIsBuilt() {
        assertThrows(IllegalArgumentException.class, () -> new FleetBench.Options(2, 4, 1, 0, FreezeBudget.Settings.fixed(1),
                "1", 4, FleetBench.Gate.AROUND, Duration.ofSeconds(10)));
    }

    @Test
    @RequiresTun
    @RequiresRoot
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void aRollingReplacementUnderABudgetOfTwoNeverFreezesMoreThanTwoAndLeaksNoFd() throws Exception {
        List<String> lines = new ArrayList<>();
        JsonNode r = FleetBench.run(new FleetBench.Options(1, 6, 2, 0, FreezeBudget.Settings.fixed(2), "2", 6,
                FleetBench.Gate.SWITCHOVER, Duration.ofSeconds(60)), lines::add);
        assertTrue(FleetBench.hasRequired(r), r.toString());
        assertEquals(12, r.path("completed").asInt(), "every VM migrates once per round: " + r + " " + lines);
        assertEquals(0, r.path("failed").asInt());
        assertEquals(0, r.path("fds_leaked").asInt(), "the retired VMM processes hold no TAP fd, the new one one per VM");
        assertTrue(r.path("max_frozen_at_once").asInt() >= 1 && r.path("max_frozen_at_once").asInt() <= 2,
                "the VMMs' own stop/resume stamps must show at most K=2 frozen at once: " + r);
        assertTrue(r.path("budget").path("max_in_use").asInt() <= 2);
        // the permit (taken in the driver's switch-over gate) holds each freeze: its span is never shorter
        assertTrue(r.path("permit_not_frozen_ms").path("p50").asDouble() >= 0, r.toString());
        assertTrue(r.path("downtime_ms").path("p50").asDouble() > 0, r.toString());
        assertTrue(r.path("migrations_per_s").asDouble() > 0, r.toString());
        assertEquals(2, lines.stream().filter(l -> l.startsWith("round ")).count(), String.join("\n", lines));
    }
}
