package dev.livetap.testbed.orchestration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.vmm.VmmProcess;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link LocalMigration} with a hold against real {@code livetap vmm} processes: the hold runs
 * once, while the source says {@code pre-switchover} with its stop already stamped, and the target
 * starts only after the hold let go ({@code migrate-continue}).
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HeldSwitchoverEndToEndTest {
    @Test
    void theHoldRunsOnceInPreSwitchoverInsideTheStampedFreeze() throws Exception {
        Path dir = Files.createTempDirectory("livetap-held");
        List<VmmProcess> processes = new ArrayList<>();
        try (NetworkNamespace ns = NetworkNamespace.create()) {
            VmmProcess a = VmmProcess.start(VmmProcess.Options.of(dir, "a").withPrefix(ns.wrap(List.of())));
            processes.add(a);
            VmmProcess b = VmmProcess.start(VmmProcess.Options.of(dir, "b").withPrefix(ns.wrap(List.of())).withArgs(List.of("--incoming")));
            processes.add(b);
            a.connect();
            b.connect();
            a.addNic("lt0", 2, false, "52:54:00:12:34:56");
            b.addNic("lt0", 2, true, "52:54:00:12:34:56");
            ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
            ns.run("ip", "addr", "add", "10.0.1.1/24", "dev", "lt0");
            ns.run("ip", "link", "set", "lt0", "up");
            assertTrue(ns.exec(Duration.ofSeconds(10), "ping", "-c", "1", "-W", "2", "10.0.1.2").ok(), "the guest answers first");

            List<String> seen = new ArrayList<>();
            long[] window = new long[3];
            LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(a.qmpSocket(), b.qmpSocket()).withHold((src, info) -> {
                window[0] = info.path("x-source-stopped-ns").asLong(0);
                seen.add(src.execute("query-migrate", null).path("status").asText());
                window[1] = System.nanoTime();
                // echo requests written into the TAP while the source is held (their answers come after the hold)
                ns.exec(Duration.ofSeconds(5), "ping", "-c", "3", "-l", "3", "-W", "0.05", "-q", "10.0.1.2");
                seen.add(src.execute("query-migrate", null).path("status").asText());
                window[2] = System.nanoTime();
            }), line -> { });
            assertTrue(r.completed(), LocalMigration.format(r));
            assertEquals(List.of("pre-switchover", "pre-switchover"), seen, "the hold ran once, while the source waited");
            long started = r.targetInfo().path("x-target-started-ns").asLong(0);
            assertEquals(window[0], r.sourceInfo().path("x-source-stopped-ns").asLong(), "the stop was stamped before pre-switchover");
            assertTrue(window[0] > 0 && window[0] <= window[1], "the source's queues stopped before the hold began");
            assertTrue(started > window[2], "the target started only after the hold let go: " + started + " vs " + window[2]);
            assertTrue(ns.exec(Duration.ofSeconds(10), "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.2").ok(),
                    "the target answers after the held switch-over");
        } finally {
            for (VmmProcess p : processes) {
                p.close();
            }
            try (var l = Files.list(dir)) {
                for (Path p : l.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
