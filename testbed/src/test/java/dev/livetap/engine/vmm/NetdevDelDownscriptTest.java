package dev.livetap.engine.vmm;

import static dev.livetap.testbed.vmm.VmmProcess.args;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.vmm.VmmProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * QEMU's order at {@code netdev_del} (net/tap.c, tap_cleanup: the down script runs, then the TAP fd
 * is closed; qemu/qemu 7284d53f6fc2), on a real {@code livetap vmm} in a private namespace: after
 * {@code device_del} the TAP queues stay open, so the downscript that {@code netdev_del} runs still
 * sees the (non-persistent) interface; it disappears once the queues close after the script.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 90, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NetdevDelDownscriptTest {
    private static final String TAP = "dd0";

    @Test
    void theDownscriptOfNetdevDelSeesTheInterfaceStillPresent() throws Exception {
        Path dir = Files.createTempDirectory("livetap-downscript");
        Path seen = dir.resolve("seen");
        Path script = dir.resolve("down.sh");
        // the script records whether the interface it is given still exists (ip's exit code)
        Files.writeString(script, "#!/bin/sh\nPATH=/usr/sbin:/sbin:/usr/bin:/bin\nip link show \"$1\" >/dev/null 2>&1\n"
                + "echo \"$1 $?\" > " + seen + "\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        try (NetworkNamespace ns = NetworkNamespace.create();
                VmmProcess vmm = VmmProcess.start(VmmProcess.Options.of(dir, "vm").withPrefix(ns.wrap(List.of()))
                        .withArgs(List.of("--no-warm-up")))) {
            vmm.connect();
            vmm.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", TAP).put("queues", 2)
                    .put("script", "no").put("downscript", script.toString()));
            vmm.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mq", true).put("mac", "52:54:00:12:34:56"));
            assertTrue(linkExists(ns), "the NIC opened the TAP");
            vmm.execute("device_del", args().put("id", "nic0"));
            assertTrue(linkExists(ns), "after device_del the TAP stays open until netdev_del, as in QEMU");
            // the same device again on the netdev: the unplugged NIC's held queues give way to the new NIC's
            vmm.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mq", true).put("mac", "52:54:00:12:34:56"));
            vmm.execute("device_del", args().put("id", "nic0"));
            assertTrue(linkExists(ns), "after the second device_del the TAP is still open");
            vmm.execute("netdev_del", args().put("id", "net0"));
            assertTrue(Files.exists(seen), "netdev_del replies once its downscript ended");
            assertEquals(TAP + " 0", Files.readString(seen).trim(), "the downscript saw the interface still present");
            long goneBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (linkExists(ns) && System.nanoTime() < goneBy) {
                Thread.sleep(20);
            }
            assertFalse(linkExists(ns), "the queues closed after the script: the non-persistent TAP is gone");
            assertEquals("running", vmm.runState());
        } finally {
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static boolean linkExists(NetworkNamespace ns) {
        return ns.exec(Duration.ofSeconds(10), "ip", "link", "show", TAP).ok();
    }
}
