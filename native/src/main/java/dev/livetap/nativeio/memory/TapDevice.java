package dev.livetap.nativeio.memory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/** A TAP network device of the in-memory kernel. All access holds the kernel lock. */
final class TapDevice {
    /** TUN_FEATURES | IFF_TUN | IFF_TAP | IFF_PERSIST: what TUNGETIFF reports of the device flags. */
    static final int REPORTED_FLAGS = 0x1000 | 0x2000 | 0x4000 | 0x0100 | 0x0010 | 0x0020 | 0x0001 | 0x0002;
    /** sizeof(struct virtio_net_hdr). */
    static final int DEFAULT_VNET_HDR = 10;
    /** The default txqueuelen: frames a queue's ring holds before the kernel drops. */
    static final int RING_FRAMES = 500;

    final String name;
    final int flags;
    int vnetHdrSize = DEFAULT_VNET_HDR;
    int offloads;
    boolean persist;
    /** The kernel's tfiles array: attached queues; a detach moves the last one into the hole. */
    final List<OpenFile.TapQueue> attached = new ArrayList<>();
    final List<OpenFile.TapQueue> disabled = new ArrayList<>();
    /** Frames the queues wrote, for the host side to take (without the virtio_net_hdr). */
    final ArrayDeque<byte[]> toHost = new ArrayDeque<>();
    long dropped;
    long delivered;

    TapDevice(String name, int flags) {
        this.name = name;
        this.flags = flags & REPORTED_FLAGS;
    }

    boolean multiQueue() {
        return (flags & dev.livetap.nativeio.TunFlags.IFF_MULTI_QUEUE) != 0;
    }

    boolean vnetHdr() {
        return (flags & dev.livetap.nativeio.TunFlags.IFF_VNET_HDR) != 0;
    }

    int queueCount() {
        return attached.size() + disabled.size();
    }

    void detach(OpenFile.TapQueue q) {
        int index = attached.indexOf(q);
        if (index < 0) {
            return;
        }
        int last = attached.size() - 1;
        attached.set(index, attached.get(last));
        attached.remove(last);
        q.ring.clear();
    }

    /**
     * A deterministic stand-in for the kernel's flow hash: ethertype, and for IPv4 the protocol,
     * addresses and (TCP/UDP) ports; otherwise the Ethernet header. FNV-1a.
     */
    static int flowHash(byte[] frame) {
        int h = 0x811C9DC5;
        int[][] ranges;
        boolean ipv4 = frame.length >= 34 && frame[12] == 0x08 && frame[13] == 0x00;
        if (ipv4) {
            int proto = frame[23] & 0xFF;
            boolean ports = (proto == 6 || proto == 17) && frame.length >= 38;
            ranges = ports ? new int[][] {{12, 14}, {23, 24}, {26, 38}} : new int[][] {{12, 14}, {23, 24}, {26, 34}};
        } else {
            ranges = new int[][] {{0, Math.min(14, frame.length)}};
        }
        for (int[] r : ranges) {
            for (int i = r[0]; i < r[1]; i++) {
                h ^= frame[i] & 0xFF;
                h *= 0x01000193;
            }
        }
        return h & 0x7FFFFFFF;
    }
}
