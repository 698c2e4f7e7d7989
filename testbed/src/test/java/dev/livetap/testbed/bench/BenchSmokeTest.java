package dev.livetap.testbed.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.nativeio.testing.RequiresTun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Each benchmark at a tiny size: it works end to end (real VMM processes, real TAPs); no speed is checked. */
@RequiresTun
class BenchSmokeTest {
    private static final List<String> JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss1m");

    @Test
    @Timeout(120)
    void downtimeAtTwoQueues() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc builds the bare C hand-off");
        ObjectNode r = DowntimeBench.run(new DowntimeBench.Options(2, 3, 1, vms -> JVM, Duration.ofSeconds(30), 50), s -> { });
        assertEquals(2, r.get("queues").asInt());
        assertEquals(3, r.get("migrations").asInt());
        assertTrue(r.at("/downtime_ms/p50").asDouble() > 0, r.toString());
        assertTrue(r.at("/downtime_ms/max").asDouble() >= r.at("/downtime_ms/p50").asDouble(), r.toString());
        assertTrue(r.at("/bare_handoff_ms/p50").asDouble() > 0, r.toString());
        assertEquals(2, r.at("/bare_handoff_ms/fds").asInt());
        assertTrue(r.get("ratio_p50").asDouble() > 0, r.toString());
    }

    @Test
    @Timeout(120)
    void downtimeAt256QueuesNeedsTwoScmRightsMessages() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc builds the bare C hand-off");
        ObjectNode r = DowntimeBench.run(new DowntimeBench.Options(256, 1, 0, vms -> JVM, Duration.ofSeconds(30), 20), s -> { });
        assertEquals(256, r.get("queues").asInt());
        assertEquals(1, r.get("migrations").asInt());
        assertEquals(256, r.at("/bare_handoff_ms/fds").asInt());
        assertTrue(r.at("/downtime_ms/p50").asDouble() > 0, r.toString());
    }

    @Test
    @Timeout(120)
    void concurrentTenVms() throws Exception {
        // 2 warm-up VMs first, then 10 at once
        ObjectNode r = ConcurrentBench.run(new ConcurrentBench.Options(10, 2, 10, JVM, Duration.ofSeconds(60), null,
                ConcurrentBench.SETUP_WIDTH), s -> { });
        assertEquals(10, r.get("vms").asInt());
        assertEquals(10, r.get("real_taps").asInt());
        assertEquals(12, r.get("real_taps_with_warmup").asInt());
        assertEquals(2, r.at("/warmup/completed").asInt(), r.toString());
        assertEquals(10, r.get("completed").asInt(), r.toString());
        assertEquals(0, r.get("fds_leaked").asInt(), r.toString());
        assertTrue(r.get("migrations_per_s").asDouble() > 0, r.toString());
        assertTrue(r.get("max_in_flight").asInt() >= 1 && r.get("max_in_flight").asInt() <= 10, r.toString());
        assertEquals(0, r.get("unstamped").asInt(), r.toString());
        assertTrue(r.at("/downtime_ms/p50").asDouble() > 0, r.toString());
        assertTrue(r.at("/downtime_ms/p99").asDouble() >= r.at("/downtime_ms/p50").asDouble(), r.toString());
        assertTrue(r.at("/downtime_ms/p99").asDouble() <= r.get("window_ms").asDouble(), "a downtime lies inside the window: " + r);
        assertTrue(r.at("/heap_mb/source/used").asLong() > 0 && r.at("/heap_mb/target/used").asLong() > 0, r.toString());
        assertTrue(!r.has("failures"), r.toString());
    }
}
