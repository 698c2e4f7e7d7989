package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** TAP queues of the in-memory kernel, with the checks and messages of drivers/net/tun.c. */
final class MemoryTun implements Tun {
    /** IFF_TUN | IFF_TAP | IFF_NO_CARRIER | TUN_FEATURES, as TUNGETFEATURES reports. */
    static final int FEATURES = 0x0001 | 0x0002 | 0x0040 | 0x1000 | 0x2000 | 0x4000 | 0x0100 | 0x0010 | 0x0020;
    private static final int KNOWN_OFFLOADS = TunFlags.TUN_F_CSUM | TunFlags.TUN_F_TSO4 | TunFlags.TUN_F_TSO6
            | TunFlags.TUN_F_TSO_ECN | TunFlags.TUN_F_UFO | TunFlags.TUN_F_USO4 | TunFlags.TUN_F_USO6;

    private final InMemoryOs os;

    MemoryTun(InMemoryOs os) {
        this.os = os;
    }

    @Override
    public List<OwnedFd> openQueues(String ifname, int queues, int flags) {
        if (queues < 1) {
            throw new IllegalArgumentException("at least one queue: " + queues);
        }
        List<OwnedFd> opened = new ArrayList<>(queues);
        synchronized (os.lock()) {
            try {
                for (int i = 0; i < queues; i++) {
                    OpenFile.TapQueue q = os.kernel().openQueue(ifname, flags);
                    opened.add(os.install(q, "openQueues(" + ifname + ")"));
                }
            } catch (RuntimeException e) {
                OwnedFd.closeAll(opened);
                throw e;
            }
        }
        return opened;
    }

    private OpenFile.TapQueue queue(OwnedFd fd, String call) {
        OpenFile f = os.fileOf(fd, call);
        if (!(f instanceof OpenFile.TapQueue q)) {
            throw new NativeException(call, Errno.EBADFD, call + " on fd " + fd.number() + ": " + f
                    + " is not an attached TUN queue (EBADFD)");
        }
        return q;
    }

    @Override
    public TunInfo info(OwnedFd fd) {
        synchronized (os.lock()) {
            OpenFile.TapQueue q = queue(fd, "ioctl(TUNGETIFF)");
            int flags = q.device.flags | (q.device.persist ? TunFlags.IFF_PERSIST : 0)
                    | (q.detached ? TunFlags.IFF_DETACH_QUEUE : 0);
            return new TunInfo(q.device.name, flags);
        }
    }

    @Override
    public int features() {
        return FEATURES;
    }

    @Override
    public void setVnetHdrSize(OwnedFd fd, int size) {
        synchronized (os.lock()) {
            OpenFile.TapQueue q = queue(fd, "ioctl(TUNSETVNETHDRSZ)");
            if (size < TapDevice.DEFAULT_VNET_HDR) {
                throw new NativeException("ioctl(TUNSETVNETHDRSZ)", Errno.EINVAL, "ioctl(TUNSETVNETHDRSZ) on "
                        + q.device.name + ": " + size + " is below sizeof(struct virtio_net_hdr) = 10 (EINVAL)");
            }
            q.device.vnetHdrSize = size;
        }
    }

    @Override
    public int vnetHdrSize(OwnedFd fd) {
        synchronized (os.lock()) {
            return queue(fd, "ioctl(TUNGETVNETHDRSZ)").device.vnetHdrSize;
        }
    }

    @Override
    public void setQueueAttached(OwnedFd fd, boolean attached) {
        synchronized (os.lock()) {
            String call = "ioctl(TUNSETQUEUE)";
            OpenFile.TapQueue q = queue(fd, call);
            TapDevice dev = q.device;
            if (attached == !q.detached) {
                throw new NativeException(call, Errno.EINVAL, call + " on " + dev.name + ": the queue is already "
                        + (attached ? "attached" : "detached") + " (EINVAL)");
            }
            if (attached) {
                dev.disabled.remove(q);
                dev.attached.add(q);
                q.detached = false;
            } else {
                dev.detach(q);
                dev.disabled.add(q);
                q.detached = true;
            }
        }
    }

    @Override
    public void setOffload(OwnedFd fd, int offloads) {
        synchronized (os.lock()) {
            OpenFile.TapQueue q = queue(fd, "ioctl(TUNSETOFFLOAD)");
            if ((offloads & ~KNOWN_OFFLOADS) != 0) {
                throw new NativeException("ioctl(TUNSETOFFLOAD)", Errno.EINVAL, String.format(
                        "ioctl(TUNSETOFFLOAD) on %s: unknown offload bits 0x%X (EINVAL)", q.device.name, offloads & ~KNOWN_OFFLOADS));
            }
            q.device.offloads = offloads;
        }
    }

    @Override
    public void setPersist(OwnedFd fd, boolean persist) {
        synchronized (os.lock()) {
            queue(fd, "ioctl(TUNSETPERSIST)").device.persist = persist;
        }
    }

    @Override
    public int readFrame(OwnedFd fd, ByteBuffer into) {
        synchronized (os.lock()) {
            OpenFile.TapQueue q = queue(fd, "read");
            byte[] frame = q.ring.peek();
            if (frame == null) {
                return 0;
            }
            int hdr = q.device.vnetHdr() ? q.device.vnetHdrSize : 0;
            int length = hdr + frame.length;
            if (into.remaining() < length) {
                throw new NativeException("read", Errno.EINVAL, "read on " + q.device.name + " queue: a " + length
                        + "-byte frame does not fit in " + into.remaining() + " bytes");
            }
            q.ring.poll();
            into.put(new byte[hdr]).put(frame);
            return length;
        }
    }

    @Override
    public boolean writeFrame(OwnedFd fd, ByteBuffer frame) {
        synchronized (os.lock()) {
            OpenFile.TapQueue q = queue(fd, "write");
            int hdr = q.device.vnetHdr() ? q.device.vnetHdrSize : 0;
            if (frame.remaining() < hdr) {
                throw new NativeException("write", Errno.EINVAL, "write on " + q.device.name + " queue: "
                        + frame.remaining() + " bytes are shorter than the " + hdr + "-byte virtio_net_hdr (EINVAL)");
            }
            byte[] all = new byte[frame.remaining()];
            frame.get(all);
            q.device.toHost.add(Arrays.copyOfRange(all, hdr, all.length));
            return true;
        }
    }
}
