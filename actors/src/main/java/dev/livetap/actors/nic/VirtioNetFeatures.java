package dev.livetap.actors.nic;

/**
 * virtio-net feature bits (virtio spec 1.3, 5.1.3) that livetap's NIC offers. While the peers wait
 * for incoming state the NIC offers {@link #FULL} (design semantic 3); when its section loads it
 * recomputes them from what each loaded backend can carry.
 */
public final class VirtioNetFeatures {
    public static final long CSUM = 1L << 0;
    public static final long GUEST_CSUM = 1L << 1;
    public static final long MAC = 1L << 5;
    public static final long GUEST_TSO4 = 1L << 7;
    public static final long GUEST_TSO6 = 1L << 8;
    public static final long GUEST_UFO = 1L << 10;
    public static final long HOST_TSO4 = 1L << 11;
    public static final long HOST_TSO6 = 1L << 12;
    public static final long HOST_UFO = 1L << 14;
    public static final long MRG_RXBUF = 1L << 15;
    public static final long STATUS = 1L << 16;
    public static final long CTRL_VQ = 1L << 17;
    public static final long MQ = 1L << 22;
    public static final long VERSION_1 = 1L << 32;
    public static final long GUEST_USO4 = 1L << 54;
    public static final long GUEST_USO6 = 1L << 55;
    public static final long HOST_USO = 1L << 56;
    /** UDP tunnel GSO bits (virtio 1.4 draft numbering, as in QEMU 10.1). */
    public static final long GUEST_UDP_TUNNEL_GSO = 1L << 46;
    public static final long HOST_UDP_TUNNEL_GSO = 1L << 48;

    /** Offered whatever the backend. */
    public static final long BASE = MAC | MRG_RXBUF | STATUS | CTRL_VQ | VERSION_1;
    /** Needs a backend with a vnet header (checksum and TSO offloads). */
    public static final long VNET_HDR = CSUM | GUEST_CSUM | GUEST_TSO4 | GUEST_TSO6 | HOST_TSO4 | HOST_TSO6;
    public static final long UFO = GUEST_UFO | HOST_UFO;
    public static final long USO = GUEST_USO4 | GUEST_USO6 | HOST_USO;
    public static final long TUNNEL = GUEST_UDP_TUNNEL_GSO | HOST_UDP_TUNNEL_GSO;
    public static final long FULL = BASE | VNET_HDR | UFO | USO | TUNNEL | MQ;

    private VirtioNetFeatures() {
    }

    /** What a backend with these capabilities can carry. */
    public static long backend(boolean vnetHdr, boolean ufo, boolean uso, boolean tunnel) {
        long f = FULL & ~(VNET_HDR | UFO | USO | TUNNEL | MQ);
        if (vnetHdr) {
            f |= VNET_HDR;
            f |= ufo ? UFO : 0;
            f |= uso ? USO : 0;
            f |= tunnel ? TUNNEL : 0;
        }
        return f | MQ;
    }

    /** The NIC's features: the base, what every peer can carry, MQ only with more than one queue pair. */
    public static long nic(long everyPeer, int queuePairs) {
        long f = BASE | (everyPeer & (VNET_HDR | UFO | USO | TUNNEL));
        return queuePairs > 1 ? f | MQ : f;
    }
}
