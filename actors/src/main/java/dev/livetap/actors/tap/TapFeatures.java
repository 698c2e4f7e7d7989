package dev.livetap.actors.tap;

import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;

/** Offload capabilities the source probed on its TAP; they travel in {@code net-tap}. */
public record TapFeatures(boolean hasUfo, boolean hasUso, boolean hasTunnel) {
    public static final TapFeatures NONE = new TapFeatures(false, false, false);

    /**
     * Probes a TAP as QEMU's tap backend does (a trial TUNSETOFFLOAD of each offload together with
     * checksum offload: the kernel refuses a bit it does not know with EINVAL), then leaves the
     * device with no offload, as a new QEMU netdev does until the guest's features are known.
     * TUNSETOFFLOAD is device-wide: probe only a TAP no other process is running with.
     */
    public static TapFeatures probe(Tun tun, OwnedFd queue) {
        boolean ufo = accepts(tun, queue, TunFlags.TUN_F_CSUM | TunFlags.TUN_F_UFO);
        boolean uso = accepts(tun, queue, TunFlags.TUN_F_CSUM | TunFlags.TUN_F_USO4 | TunFlags.TUN_F_USO6);
        boolean tunnel = accepts(tun, queue, TunFlags.TUN_F_CSUM | TunFlags.TUN_F_TSO4 | TunFlags.TUN_F_TSO6
                | TunFlags.TUN_F_UDP_TUNNEL_GSO);
        tun.setOffload(queue, 0);
        return new TapFeatures(ufo, uso, tunnel);
    }

    private static boolean accepts(Tun tun, OwnedFd queue, int offloads) {
        try {
            tun.setOffload(queue, offloads);
            return true;
        } catch (NativeException refused) {
            return false; // EINVAL: a bit this kernel does not know
        }
    }
}
