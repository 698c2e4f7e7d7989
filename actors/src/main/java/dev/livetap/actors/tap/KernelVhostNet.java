package dev.livetap.actors.tap;

import dev.livetap.nativeio.OwnedFd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The kernel's vhost-net ({@code /dev/vhost-net}). On kernels built without CONFIG_VHOST_NET
 * (this project's machines) the device does not exist and every use fails with that reason.
 * Where the device exists, livetap still reports vhost as unavailable: the vhost ioctls
 * (VHOST_SET_OWNER, VHOST_SET_MEM_TABLE, VHOST_NET_SET_BACKEND) belong in the native module,
 * which does not have them yet, and a missing capability must fail loudly rather than pretend.
 */
public final class KernelVhostNet implements VhostBackend {
    /** The character device vhost-net creates (misc minor 238). */
    public static final Path DEVICE = Path.of("/dev/vhost-net");
    public static final String ABSENT = "/dev/vhost-net does not exist (this kernel is built without CONFIG_VHOST_NET)";
    public static final String NOT_IMPLEMENTED =
            "/dev/vhost-net exists, but livetap's native layer has no vhost ioctls yet (VHOST_NET_SET_BACKEND)";

    private final Optional<String> cause;
    private final boolean deviceExists;

    /** Looks at {@link #DEVICE} once. */
    public KernelVhostNet() {
        this(DEVICE);
    }

    /** Looks at {@code device} once (tests point it elsewhere). */
    public KernelVhostNet(Path device) {
        this.deviceExists = Files.exists(device);
        this.cause = Optional.of(deviceExists
                ? NOT_IMPLEMENTED.replace("/dev/vhost-net", device.toString())
                : ABSENT.replace("/dev/vhost-net", device.toString()));
    }

    @Override
    public boolean isAvailable() {
        return cause.isEmpty();
    }

    @Override
    public Optional<String> unavailabilityCause() {
        return cause;
    }

    /** QEMU's net_init_tap_one text when /dev/vhost-net cannot be opened (ENOENT here: the device does not exist). */
    public static final String OPEN_FAILED = "tap: open vhost char device failed: No such file or directory";

    @Override
    public VhostQueue open(int queueIndex) {
        throw new VhostException(deviceExists ? "vhost-net unavailable: " + cause.orElseThrow() : OPEN_FAILED);
    }

    @Override
    public void setUp(VhostQueue queue, OwnedFd tapFd) {
        throw new VhostException("vhost-net unavailable: " + cause.orElseThrow());
    }

    @Override
    public void tearDown(VhostQueue queue) {
        // Nothing can have been opened.
    }
}
