package dev.livetap.nativeio;

/** ifreq flags of the TUN driver (linux/if_tun.h). */
public final class TunFlags {
    public static final int IFF_TUN = 0x0001;
    public static final int IFF_TAP = 0x0002;
    public static final int IFF_NO_PI = 0x1000;
    public static final int IFF_VNET_HDR = 0x4000;
    public static final int IFF_MULTI_QUEUE = 0x0100;
    public static final int IFF_ATTACH_QUEUE = 0x0200;
    public static final int IFF_DETACH_QUEUE = 0x0400;
    public static final int IFF_PERSIST = 0x0800;

    /** TUNSETOFFLOAD bits. */
    public static final int TUN_F_CSUM = 0x01;
    public static final int TUN_F_TSO4 = 0x02;
    public static final int TUN_F_TSO6 = 0x04;
    public static final int TUN_F_TSO_ECN = 0x08;
    public static final int TUN_F_UFO = 0x10;
    public static final int TUN_F_USO4 = 0x20;
    public static final int TUN_F_USO6 = 0x40;
    /** UDP tunnel (e.g. VXLAN) segmentation offload, Linux 6.17 and later; older kernels refuse the bit (EINVAL). */
    public static final int TUN_F_UDP_TUNNEL_GSO = 0x080;

    /** The usual livetap queue: a TAP without packet info, with a virtio_net_hdr. */
    public static final int TAP_VNET_MQ = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;

    private TunFlags() {
    }
}
