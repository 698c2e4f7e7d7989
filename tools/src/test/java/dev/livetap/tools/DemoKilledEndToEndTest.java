package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.tools.LivetapCommand;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** SIGKILL of {@code livetap demo} with its VMMs and ping running leaves no process, namespace or TAP after 10 s. */
@RequiresTun
@RequiresRoot
@Timeout(value = 240, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DemoKilledEndToEndTest {
    static final Duration STEP = Duration.ofSeconds(10);

    @Test
    void aDemoKilledBySigkillLeavesNoProcessNamespaceOrTapBehind() throws Exception {
        try (ChildJvm demo = ChildJvm.builder(LivetapCommand.class).args("demo", "--migrations", "3").start()) {
            String ns = "livetap-demo" + demo.pid() + "-1"; // NetworkNamespace's rule: livetap-<purpose><pid>-<n>
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            // the line that says ping runs: the first VM, its TAP, ping and every target are up
            while (!demo.stderr().contains("running") && !demo.stdout().contains("running")) {
                assertTrue(demo.isAlive(), "the demo runs until it is killed: " + demo.describe());
                assertTrue(System.nanoTime() < deadline, "the demo's VMs came up within 180 s: " + demo.describe());
                Thread.sleep(100);
            }
            String users = HostCommand.run(STEP, List.of("ip", "netns", "pids", ns)).output().strip();
            List<Long> children = new ArrayList<>();
            for (String u : users.split("\\s+")) {
                if (!u.isEmpty()) {
                    children.add(Long.parseLong(u));
                }
            }
            assertTrue(children.size() >= 2, "VMMs and ping run in " + ns + ": " + users);
            String tap = HostCommand.run(STEP, List.of("ip", "-n", ns, "-o", "link", "show", "type", "tun")).output();
            assertFalse(tap.isBlank(), "the demo's TAP exists before the kill");

            assertEquals(0, HostCommand.run(STEP, List.of("kill", "-KILL", String.valueOf(demo.pid()))).exitCode());
            long killed = System.nanoTime();
            demo.waitFor(Duration.ofSeconds(10));
            List<Long> alive;
            boolean nsListed;
            do {
                Thread.sleep(200);
                alive = children.stream().filter(p -> ProcessHandle.of(p).map(ProcessHandle::isAlive).orElse(false)).toList();
                nsListed = HostCommand.run(STEP, List.of("ip", "netns", "list")).output().lines()
                        .anyMatch(l -> l.startsWith("livetap-demo" + demo.pid() + "-"));
            } while ((!alive.isEmpty() || nsListed) && System.nanoTime() - killed < TimeUnit.SECONDS.toNanos(10));
            double seconds = (System.nanoTime() - killed) / 1e9;
            System.out.printf("after SIGKILL of the demo: %d children gone, namespace gone in %.1f s%n", children.size(), seconds);
            assertEquals(List.of(), alive, "no VMM or ping outlives the killed demo by 10 s");
            assertFalse(nsListed, "no livetap-demo namespace (and so no TAP) outlives the killed demo by 10 s");
        }
    }
}
