package dev.livetap.actors.realkernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresTun;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The migration on the real kernel: a child JVM inside a private network namespace (design decision 6)
 * migrates a 4-queue NIC with its TAP between two VM endpoints over a real AF_UNIX socketpair
 * (real SCM_RIGHTS); real {@code ping -i 0.005} from the namespace's stack is answered before, during
 * and after, after by the target's guest stand-in; the interface keeps its ifindex and the target
 * never calls TUNSETIFF.
 */
@RequiresTun
@Timeout(value = 90, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RealKernelMigrationTest {

    @Test
    void fourQueueTapMigratesOnTheRealKernelAndPingKeepsBeingAnswered() {
        try (NetworkNamespace ns = NetworkNamespace.create();
             ChildJvm child = ChildJvm.builder(RealKernelMigrationMain.class).inNetns(ns)
                     .jvmOption("-Dlivetap.test.log=" + System.getProperty("livetap.test.log", "WARN")).start()) {
            int exit = child.waitFor(Duration.ofSeconds(75));
            String out = child.stdout();
            Map<String, String> r = results(out);
            System.out.println("real-kernel migration: " + r);
            assertEquals(0, exit, "the child's checks must all pass: " + child.describe());
            assertEquals("completed", r.get("sourceStatus"), out);
            assertEquals("completed", r.get("targetStatus"), out);
            assertEquals(r.get("ifindexBefore"), r.get("ifindexAfter"), "the same TAP device: ifindex unchanged");
            assertEquals("0", r.get("targetTunsetiff"), "the target opened no TAP queue (no TUNSETIFF): it uses the fds it received");
            assertEquals("4", r.get("sourceTunsetiff"), "the source opened its 4 queues");
            assertEquals("20/20", r.get("pingBefore"), "the source's guest stand-in answers real ping");
            assertEquals("50/50", r.get("pingAfter"), "after the migration every ping is answered");
            assertTrue(Long.parseLong(r.get("targetGuestAnswered")) >= 50, "the answers come from the target's guest: " + r);
            assertEquals("0", r.get("sourceGuestAnsweredAfterMigration"), "the source reads nothing after the migration");
            String[] during = r.get("pingDuring").split("/");
            assertEquals("400", during[0]);
            assertTrue(Integer.parseInt(during[1]) >= 390, "ping during the migration loses at most a few frames: " + r);
            assertEquals("0/1", r.get("downscripts"), "the downscript duty passed to the target with 'loaded'");
            assertEquals("0", r.get("ownedFdsLeft"), "owned fds add up in the child");
            assertEquals("true", r.get("tapGone"), "closing the last queue fd destroyed the non-persistent TAP");
        }
    }

    static Map<String, String> results(String out) {
        Map<String, String> r = new TreeMap<>();
        for (String line : out.split("\n")) {
            if (line.startsWith("RESULT ")) {
                for (String kv : line.substring(7).split(" ")) {
                    int eq = kv.indexOf('=');
                    if (eq > 0) {
                        r.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                }
            }
        }
        return r;
    }
}
