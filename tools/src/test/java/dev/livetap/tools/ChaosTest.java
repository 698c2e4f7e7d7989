package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.HostCommand;
import dev.livetap.tools.ChaosCommand;
import dev.livetap.testbed.chaos.ChaosRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Three chaos runs with real VMM processes and a real TAP (seed 15: SIGSTOP of the target, SIGKILL
 * of the target, a dropped migration socket): no violation, no leaked fd, and the namespace is gone
 * afterwards.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ChaosTest {
    @Test
    void threeRealFaults() throws Exception {
        List<ChaosRunner.Run> runs;
        List<String> log = new ArrayList<>();
        try (ChaosRunner r = ChaosRunner.open(new ChaosRunner.Options(15, 3, 4, 2), log::add)) {
            runs = r.runAll(run -> log.add(run.toString()));
        }
        String json = ChaosCommand.toJson(15, 4, runs, 0);
        assertEquals(3, runs.size());
        assertEquals(List.of("stop_target", "kill_target", "drop_socket"), runs.stream().map(x -> x.fault().id()).toList(),
                "the seed picks the faults");
        for (ChaosRunner.Run run : runs) {
            assertTrue(run.violations().isEmpty(), run + "\n" + json);
            assertEquals(0, run.fdsLeaked(), run.toString());
            assertTrue(run.owner().equals("source") || run.owner().equals("target") || run.owner().equals("none"), run.toString());
        }
        com.fasterxml.jackson.databind.JsonNode parsed = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
        assertEquals(0, parsed.path("violations").asInt(-1), json);
        assertEquals(0, parsed.path("fds_leaked").asInt(-1), json);
        String netns = HostCommand.run(java.time.Duration.ofSeconds(10), List.of("ip", "netns", "list")).output();
        assertTrue(!netns.contains("livetap-chaos" + ProcessHandle.current().pid()), "the chaos namespace is deleted: " + netns);
    }
}
