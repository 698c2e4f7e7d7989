package dev.livetap.fleet.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The plan's time limits: defaults for a plan journaled before they existed, bad values refused. */
class PlanTest {
    @Test
    void aPlanJournaledBeforeTheTimeLimitsExistedGetsTheDefaults() throws Exception {
        Plan old = new ObjectMapper().readValue("{\"targetVersion\":\"0.2.0\",\"hosts\":[\"a\"],\"maxParallelHosts\":1,"
                + "\"maxFailures\":0,\"downtimeLimitMs\":10.0}", Plan.class);
        assertEquals(Plan.DEFAULT_STEP_TIMEOUT_MS, old.stepTimeoutMs());
        assertEquals(Plan.DEFAULT_HOST_DOWN_LIMIT_MS, old.hostDownLimitMs());
        assertEquals(new Plan("0.2.0", List.of("a"), 1, 0, 10.0), old);
        Plan now = new Plan("0.2.0", List.of("a"), 1, 0, 10.0, 1500, 9000);
        assertEquals(now, new ObjectMapper().readValue(new ObjectMapper().writeValueAsString(now), Plan.class));
    }

    @Test
    void negativeTimeLimitsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Plan("0.2.0", List.of("a"), 1, 0, 10.0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Plan("0.2.0", List.of("a"), 1, 0, 10.0, 0, -5));
    }
}
