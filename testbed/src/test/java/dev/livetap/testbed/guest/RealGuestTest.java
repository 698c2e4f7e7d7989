package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.Ping;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Debian cloud kernel boots under real QEMU (TCG) on a two-queue TAP in a namespace of the
 * test's own and answers every ping once it answered the first. Prints the image's hashes, the
 * boot-to-first-reply time and the image size.
 */
class RealGuestTest {
    static final Duration READY = Duration.ofSeconds(60);
    static final int PINGS = 30;

    @Test
    @Timeout(240)
    void theGuestBootsOnAMultiqueueTapAndAnswersEveryPingAfterTheFirst(@TempDir Path dir) throws Exception {
        GuestImage image = RealGuest.imageOrSkip();
        try (NetworkNamespace ns = NetworkNamespace.create()) {
            ns.addMultiqueueTap(RealGuest.TAP, RealGuest.HOST_CIDR);
            long start = System.nanoTime();
            QemuProcess.Guest guest = QemuProcess.Guest.of(image, 2, new QemuProcess.TapByName(RealGuest.TAP));
            try (QemuProcess qemu = QemuProcess.startGuest(dir, "guest", guest, ns, false, false)) {
                assertTrue(qemu.awaitQmpSocket(Duration.ofSeconds(30)), () -> "no QMP socket: " + qemu.process().describe());
                try (QmpClient qmp = QmpClient.connect(qemu.qmpSocket(), Duration.ofSeconds(10))) {
                    qmp.negotiate();
                    assertEquals("running", qmp.execute("query-status", null).path("status").asText(),
                            "a guest started without -S runs");
                    boolean ready = ns.awaitReply(GuestImage.GUEST_ADDRESS, READY);
                    long bootToPingMs = (System.nanoTime() - start) / 1_000_000;
                    assertTrue(ready, () -> "the guest did not answer ping within " + READY + "\n--- console ---\n"
                            + qemu.console() + "\n" + qemu.process().describe());
                    assertTrue(qemu.console().contains(GuestImage.READY_LINE), "the guest's /init reported eth0 ready");

                    HostCommand.Result ping = ns.exec(Ping.deadline(PINGS, 0.2).plusSeconds(10),
                            Ping.counted(GuestImage.GUEST_ADDRESS, PINGS, 0.2).toArray(String[]::new));
                    int[] summary = RealGuest.pingSummary(ping.output());
                    System.out.printf("RealGuestTest: boot-to-first-reply %d ms; kernel %d bytes, initrd %d bytes; "
                            + "%d/%d replies after ready%n", bootToPingMs, Files.size(image.kernel()), image.initrdBytes(),
                            summary[1], summary[0]);
                    assertEquals(PINGS, summary[0], "ping sent every request");
                    assertEquals(PINGS, summary[1], () -> "once ready, the guest answers every ping:\n" + ping.output());
                    qmp.execute("quit", null);
                }
                assertTrue(qemu.process().awaitExit(Duration.ofSeconds(20)).isPresent(), "QEMU ends on quit");
            }
        }
    }
}
