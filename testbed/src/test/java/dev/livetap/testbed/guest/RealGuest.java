package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What the real-guest tests share: the skip conditions, the cached image, ping's summary line. */
final class RealGuest {
    static final String TAP = "lt0";
    static final String HOST_CIDR = "10.0.1.1/24";
    private static final Pattern SUMMARY = Pattern.compile("(\\d+) packets transmitted, (\\d+) received");

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
        Matcher m = SUMMARY.matcher(output);
        if (!m.find()) {
            throw new AssertionError("ping printed no summary:\n" + output);
        }
        return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
    }
}
