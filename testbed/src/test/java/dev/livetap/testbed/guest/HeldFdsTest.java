package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.NetworkNamespace;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Evidence for issue 17's "not held-fds": a control plane that holds the TAP queue fds itself and
 * hands the same open files to a target QEMU breaks the running source, because stock QEMU sets
 * device-wide TAP state when the target's netdev is created (net_tap_fd_init: offloads off and
 * the vnet header length back to 10, while the source's virtio-1.0 guest uses 12), and its NIC's
 * realize detaches queues of the shared files (QEMU 7.2 aborts when one is already detached). The control
 * plane ({@link HeldFdsProbeMain}) runs in a child JVM inside the test's namespace.
 */
class HeldFdsTest {
    @Test
    @Timeout(300)
    void aTargetQemuGivenTheHeldQueueFdsResetsTheVnetHeaderTheRunningSourceUsesAndAbortsInRealize(@TempDir Path dir) {
        GuestImage image = RealGuest.imageOrSkip();
        try (NetworkNamespace ns = NetworkNamespace.create()) {
            ns.addMultiqueueTap(RealGuest.TAP, RealGuest.HOST_CIDR);
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
                    "-Djna.tmpdir=" + System.getProperty("jna.tmpdir", System.getProperty("java.io.tmpdir") + "/livetap-jna"),
                    "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", HeldFdsProbeMain.class.getName(), dir.toString(),
                    image.kernel().toString(), image.initrd().toString(), RealGuest.TAP));
            try (ChildProcess probe = ChildProcess.start(ns.wrap(cmd), dir, "held-fds-probe")) {
                assertTrue(probe.awaitExit(Duration.ofSeconds(240)).isPresent(), () -> "the probe did not end: " + probe.describe());
                Map<String, String> seen = parse(probe.stdout());
                System.out.println("HeldFdsTest: " + seen + "\n" + probe.stdout());
                String why = "\n" + probe.describe();
                assertEquals("true", seen.get("source-ready"), "the source guest answered ping on the held fds" + why);
                assertEquals("12", seen.get("source-running-vnet-hdr-len"),
                        "a running virtio-1.0 guest has QEMU set the TAP's vnet header to 12 bytes" + why);
                assertEquals("10", seen.get("replies-source-running"), "the source guest answers every ping" + why);
                assertEquals("10", seen.get("target-netdev-added-vnet-hdr-len"),
                        "stock QEMU resets the shared TAP's vnet header to 10 when the target's netdev is created" + why);
                assertEquals("0", seen.get("replies-after-target-netdev"),
                        "from then on every frame of the running source is mis-framed: no ping is answered" + why);
                // the source's guest uses one queue pair, so the source detached queue 1 (a flag of the shared file);
                // the target's realize detaches it again, the kernel refuses, and QEMU 7.2 asserts and aborts
                assertEquals("true", seen.get("source-running-q1-detached"), "the source detached the queue its guest does not use" + why);
                assertEquals("failed", seen.get("target-nic-added"), "the target's device_add does not return" + why);
                assertEquals("false", seen.get("target-alive"), "the target QEMU aborted in realize" + why);
                assertTrue(probe.stdout().contains("could not disable queue"), "QEMU's reason: the queue was already detached" + why);
                assertEquals("0", seen.get("replies-after-target"),
                        "the source stays broken after the target is gone: the header length it relies on is lost" + why);
                assertEquals("running", seen.get("source-status"), "the source QEMU does not notice: it still reports running" + why);
                assertEquals("no-leak", seen.get("fds"), "the probe closed every fd it opened" + why);
            }
        }
    }

    private static Map<String, String> parse(String stdout) {
        Map<String, String> seen = new LinkedHashMap<>();
        for (String line : stdout.split("\n")) {
            String[] f = line.split(" ");
            if (f.length == 3 && f[0].equals("HELD-FDS")) {
                seen.put(f[1], f[2]);
            }
        }
        return seen;
    }
}
