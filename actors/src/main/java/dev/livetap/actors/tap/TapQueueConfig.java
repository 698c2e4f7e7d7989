package dev.livetap.actors.tap;

import dev.livetap.nativeio.TunFlags;

/**
 * What one queue of a TAP netdev was configured with: the netdev it belongs to, the interface its
 * fd must belong to ({@code ifname} null = any, for an {@code incoming-fds} netdev without
 * {@code ifname=}) and the TUNSETIFF flags it must carry. Received fds are checked against this.
 */
public record TapQueueConfig(String netdevId, String ifname, int index, int queues, boolean vnetHdr) {
    public TapQueueConfig {
        if (netdevId == null || netdevId.isEmpty()) {
            throw new IllegalArgumentException("netdev id is required");
        }
        if (index < 0 || index >= queues) {
            throw new IllegalArgumentException("queue index " + index + " outside 0.." + (queues - 1));
        }
    }

    /** A queue of a netdev named after its interface. */
    public TapQueueConfig(String ifname, int index, int queues, boolean vnetHdr) {
        this(ifname, ifname, index, queues, vnetHdr);
    }

    /** The TUNSETIFF flags of this netdev's queues (IFF_MULTI_QUEUE only for more than one queue). */
    public int flags() {
        int f = TunFlags.IFF_TAP | TunFlags.IFF_NO_PI;
        if (vnetHdr) {
            f |= TunFlags.IFF_VNET_HDR;
        }
        if (queues > 1) {
            f |= TunFlags.IFF_MULTI_QUEUE;
        }
        return f;
    }

    /** The virtio_net_hdr length the kernel prepends to frames: 10 by default with IFF_VNET_HDR. */
    public int defaultVnetHdrLen() {
        return vnetHdr ? 10 : 0;
    }

    public String name() {
        return (ifname == null ? netdevId : ifname) + " queue " + index;
    }
}
