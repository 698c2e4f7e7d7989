package dev.livetap.engine.vmm;

import static dev.livetap.testbed.vmm.VmmProcess.args;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A migration without backend transfer between two real {@code livetap vmm} processes in a namespace
 * of the test's own: the source keeps its (non-persistent) TAP, paused, until it quits, as QEMU keeps
 * its TAP until the process ends; at {@code quit} its downscript runs while the TAP still exists (QEMU's
 * tap_cleanup: downscript, then close), and only then does the TAP disappear.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SourceKeepsItsTapUntilQuitTest {
    private static final String SOURCE_TAP = "lk0";
    private static final String TARGET_TAP = "lk1";

    @Test
    void withoutBackendTransferTheSourceKeepsItsTapUntilQuitAndItsDownscriptSeesIt() throws Exception {
        try (VmmPair pair = VmmPair.start("livetap-keep-tap")) {
            VmmProcess source = pair.source;
            VmmProcess target = pair.target;
            Path log = pair.dir.resolve("downscript.log");
            Path script = pair.dir.resolve("down.sh");
            // records whether the interface it is given exists while it runs
            Files.writeString(script, "#!/bin/sh\nif ip link show \"$1\" >/dev/null 2>&1; then echo \"$1 present\" >> " + log
                    + "; else echo \"$1 absent\" >> " + log + "; fi\n");
            Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
            source.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", SOURCE_TAP)
                    .put("script", "no").put("downscript", script.toString()));
            source.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mac", "52:54:00:12:34:56"));
            // 'local' off on both sides: the target opens a TAP of its own
            target.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", TARGET_TAP)
                    .put("script", "no").put("downscript", "no"));
            target.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mac", "52:54:00:12:34:56"));
            assertTrue(pair.linkExists(SOURCE_TAP), "the source opened its TAP");
            String uri = LocalMigration.defaultUri(target.qmpSocket());
            target.execute("migrate-incoming", args().put("uri", uri));
            source.execute("migrate", args().put("uri", uri));
            assertEquals("completed", VmmPair.awaitFinal(source, Duration.ofSeconds(30)).path("status").asText(), source.tail());
            assertEquals("completed", VmmPair.awaitFinal(target, Duration.ofSeconds(30)).path("status").asText(), target.tail());
            assertEquals("postmigrate", source.runState());

            assertTrue(pair.linkExists(SOURCE_TAP), "after a completed migration without backend transfer the source "
                    + "still holds its TAP (QEMU closes it only when the process ends)");
            assertFalse(Files.exists(log), "no downscript before the source ends");

            source.execute("quit");
            OptionalInt exit = source.awaitExit(Duration.ofSeconds(30));
            assertEquals(OptionalInt.of(0), exit, "the source ends after quit: " + source.tail());
            assertEquals(List.of(SOURCE_TAP + " present"), Files.readAllLines(log),
                    "the downscript ran once at the end, while the TAP still existed");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (pair.linkExists(SOURCE_TAP) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertFalse(pair.linkExists(SOURCE_TAP), "the source's end closed its queue: the non-persistent TAP is gone");
            assertTrue(pair.linkExists(TARGET_TAP), "the target's own TAP is untouched");
        }
    }
}
