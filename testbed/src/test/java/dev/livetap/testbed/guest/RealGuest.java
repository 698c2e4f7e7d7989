package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.Ping;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the real-guest tests share: the skip conditions, the cached image, ping's summary line. */
final class RealGuest {
    static final String TAP = "lt0";
    static final String HOST_CIDR = "10.0.1.1/24";

    private RealGuest() {
    }

    /** Skips (with the reason) unless QEMU, /dev/net/tun, root and the guest image are all here. */
    static GuestImage imageOrSkip() {
        assumeTrue(QemuProcess.isAvailable(), () -> "skipped: " + QemuProcess.unavailabilityCause().orElseThrow());
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "skipped: /dev/net/tun is missing");
        assumeTrue(NetworkNamespace.unavailabilityCause().isEmpty(),
                () -> "skipped: " + NetworkNamespace.unavailabilityCause().orElseThrow());
        try {
            GuestImage image = GuestImage.obtain(GuestImage.defaultCacheRoot());
            System.out.println(image.describe());
            return image;
        } catch (GuestImage.UnavailableException e) {
            assumeTrue(false, "skipped: no guest image: " + e.getMessage());
            throw new AssertionError("unreachable");
        }
    }

    /** {transmitted, received} from ping's summary; an AssertionError with the output if there is none. */
    static int[] pingSummary(String output) {
        Ping.Totals t = Ping.totals(output).orElseThrow(() -> new AssertionError("ping printed no summary:\n" + output));
        return new int[] {t.transmitted(), t.received()};
    }
}
