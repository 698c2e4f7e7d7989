package dev.livetap.nativeio.linux;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * /dev/net/tun queues (Documentation/networking/tuntap.rst). ifreq is 40 bytes: name[16]@0,
 * short flags@16.
 */
final class LinuxTun implements Tun {
    static final String DEVICE = "/dev/net/tun";
    private static final int IFNAMSIZ = 16;

    LinuxTun() {
    }

    @Override
    public List<OwnedFd> openQueues(String ifname, int queues, int flags) {
        byte[] name = ifname(ifname);
        if (queues < 1) {
            throw new IllegalArgumentException("queues must be >= 1: " + queues);
        }
        refuseForeignNetns(ifname);
        List<OwnedFd> opened = new ArrayList<>(Math.min(queues, MAX_QUEUES + 1));
        try {
            for (int i = 1; i <= queues; i++) {
                OwnedFd queue = openDevice(ifname + " queue " + i);
                opened.add(queue);
                Memory ifr = ifreq(name, flags);
                if (LinuxC.ioctl(queue.fd(), LinuxC.TUNSETIFF, ifr) != 0) {
                    throw setIffFailure(ifname, i, queues, flags, LinuxC.errno());
                }
            }
            return opened;
        } catch (RuntimeException e) {
            try {
                OwnedFd.closeAll(opened);
            } catch (RuntimeException closeFailure) {
                e.addSuppressed(closeFailure);
            }
            throw e;
        }
    }

    private void refuseForeignNetns(String ifname) {
        String thread = JnaOs.netnsLink("/proc/thread-self/ns/net");
        String process = JnaOs.netnsLink("/proc/self/ns/net");
        if (!thread.equals(process)) {
            throw new NativeException("ioctl(TUNSETIFF)", 0, "ioctl(TUNSETIFF) on " + ifname + " refused: the calling thread "
                    + "is in network namespace " + thread + " but the process is in " + process + "; namespaces are per "
                    + "process in livetap (design decision 6): start the process inside its namespace "
                    + "(ip netns exec NS ... or unshare -n ...) instead of moving one thread with setns/unshare");
        }
    }

    private static NativeException setIffFailure(String ifname, int queue, int queues, int flags, int errno) {
        String call = "ioctl(TUNSETIFF)";
        // E2BIG means the device already has MAX_QUEUES queues, so the refused one is always the 257th,
        // whichever call opened the earlier ones.
        String where = call + " on " + ifname + " queue " + (errno == LinuxC.E2BIG ? MAX_QUEUES + 1 : queue);
        String closed = queue > 1 ? "; the " + (queue - 1) + " queue fds this call had opened were closed" : "";
        return switch (errno) {
            case LinuxC.E2BIG -> new NativeException.TooManyQueuesException(call, errno, where + ": at most " + MAX_QUEUES
                    + " queues per TAP device (E2BIG)" + closed);
            case LinuxC.EPERM, LinuxC.EACCES -> new NativeException.NotPermittedException(call, errno, where
                    + ": needs CAP_NET_ADMIN (or ownership of a persistent TAP) (" + Errno.describe(errno) + ")" + closed);
            case LinuxC.EBUSY -> new NativeException(call, errno, where + ": " + ifname + " exists and is already attached "
                    + "without IFF_MULTI_QUEUE (a single-queue TAP takes one fd) or the name belongs to another device ("
                    + Errno.describe(errno) + ")" + closed);
            case LinuxC.EINVAL -> new NativeException(call, errno, where + ": flags 0x" + Integer.toHexString(flags)
                    + " do not match the existing device's (the first TUNSETIFF's flags win: IFF_MULTI_QUEUE, IFF_TUN/IFF_TAP "
                    + "must agree) or are invalid (" + Errno.describe(errno) + ")" + closed);
            default -> Errno.failure(call, ifname + " queue " + queue + " of " + queues, errno, closed.isEmpty() ? null
                    : closed.substring(2) + ";");
        };
    }

    private static OwnedFd openDevice(String purpose) {
        int fd = LinuxC.open(DEVICE, LinuxC.O_RDWR | LinuxC.O_CLOEXEC | LinuxC.O_NONBLOCK, 0);
        if (fd >= 0) {
            return LinuxFdOps.adopt(fd);
        }
        int errno = LinuxC.errno();
        if (errno == LinuxC.ENOENT || errno == LinuxC.ENODEV) {
            throw new NativeException.UnavailableException("open(" + DEVICE + ")", "open(" + DEVICE + ") for " + purpose
                    + " failed: no TUN driver here (" + Errno.describe(errno) + "); load the tun module or pass the device "
                    + "into the container");
        }
        throw Errno.failure("open(" + DEVICE + ")", purpose, errno);
    }

    @Override
    public TunInfo info(OwnedFd queue) {
        Memory ifr = ifreq(null, 0);
        if (LinuxC.ioctl(queue.fd(), LinuxC.TUNGETIFF, ifr) != 0) {
            int errno = LinuxC.errno();
            throw Errno.failure("ioctl(TUNGETIFF)", "fd " + queue.number(), errno,
                    errno == LinuxC.EBADFD ? "the fd is not attached to a TAP device;" : null);
        }
        byte[] raw = ifr.getByteArray(0, IFNAMSIZ);
        int len = 0;
        while (len < IFNAMSIZ && raw[len] != 0) {
            len++;
        }
        return new TunInfo(new String(raw, 0, len, StandardCharsets.UTF_8), ifr.getShort(16) & 0xffff);
    }

    @Override
    public int features() {
        OwnedFd fd = openDevice("TUNGETFEATURES");
        try {
            Memory out = Scratch.get().small;
            out.setInt(0, 0);
            if (LinuxC.ioctl(fd.fd(), LinuxC.TUNGETFEATURES, out) != 0) {
                throw Errno.failure("ioctl(TUNGETFEATURES)", DEVICE, LinuxC.errno());
            }
            return out.getInt(0);
        } finally {
            fd.close();
        }
    }

    @Override
    public void setVnetHdrSize(OwnedFd queue, int size) {
        Memory arg = Scratch.get().small;
        arg.setInt(0, size);
        if (LinuxC.ioctl(queue.fd(), LinuxC.TUNSETVNETHDRSZ, arg) != 0) {
            int errno = LinuxC.errno();
            throw Errno.failure("ioctl(TUNSETVNETHDRSZ)", describe(queue) + " size " + size, errno,
                    errno == LinuxC.EINVAL ? "the size must be at least 10 (sizeof virtio_net_hdr);" : null);
        }
    }

    @Override
    public int vnetHdrSize(OwnedFd queue) {
        Memory out = Scratch.get().small;
        out.setInt(0, 0);
        if (LinuxC.ioctl(queue.fd(), LinuxC.TUNGETVNETHDRSZ, out) != 0) {
            throw Errno.failure("ioctl(TUNGETVNETHDRSZ)", describe(queue), LinuxC.errno());
        }
        return out.getInt(0);
    }

    @Override
    public void setQueueAttached(OwnedFd queue, boolean attached) {
        int flag = attached ? TunFlags.IFF_ATTACH_QUEUE : TunFlags.IFF_DETACH_QUEUE;
        Memory ifr = ifreq(null, flag);
        if (LinuxC.ioctl(queue.fd(), LinuxC.TUNSETQUEUE, ifr) != 0) {
            int errno = LinuxC.errno();
            String why = switch (errno) {
                case LinuxC.EINVAL -> attached ? "the queue is already attached, or the device is not multi-queue;"
                        : "the queue is already detached, or the device is not multi-queue;";
                case LinuxC.E2BIG -> "the device already has " + MAX_QUEUES + " attached queues;";
                default -> null;
            };
            throw Errno.failure("ioctl(TUNSETQUEUE, " + (attached ? "IFF_ATTACH_QUEUE" : "IFF_DETACH_QUEUE") + ")",
                    describe(queue), errno, why);
        }
    }

    @Override
    public void setOffload(OwnedFd queue, int offloads) {
        if (LinuxC.ioctl(queue.fd(), LinuxC.TUNSETOFFLOAD, new Pointer(offloads & 0xffffffffL)) != 0) {
            int errno = LinuxC.errno();
            throw Errno.failure("ioctl(TUNSETOFFLOAD, 0x" + Integer.toHexString(offloads) + ")", describe(queue), errno,
                    errno == LinuxC.EINVAL ? "this kernel does not support one of these TUN_F_* bits, or IFF_VNET_HDR is off;"
                            : null);
        }
    }

    @Override
    public void setPersist(OwnedFd queue, boolean persist) {
        if (LinuxC.ioctl(queue.fd(), LinuxC.TUNSETPERSIST, new Pointer(persist ? 1 : 0)) != 0) {
            throw Errno.failure("ioctl(TUNSETPERSIST, " + (persist ? 1 : 0) + ")", describe(queue), LinuxC.errno());
        }
    }

    @Override
    public int readFrame(OwnedFd queue, ByteBuffer into) {
        int remaining = into.remaining();
        if (remaining == 0) {
            throw new IllegalArgumentException("readFrame needs room in the buffer: a frame read into 0 bytes is lost");
        }
        Scratch s = Scratch.get();
        boolean direct = into.isDirect();
        int length = direct ? remaining : Math.min(remaining, Scratch.DATA_BYTES);
        Pointer target = direct ? Native.getDirectBufferPointer(into).share(into.position()) : s.data;
        int fd = queue.fd();
        for (;;) {
            long n = LinuxC.read(fd, target, length);
            if (n >= 0) {
                if (!direct) {
                    s.data.read(0, into.array(), into.arrayOffset() + into.position(), (int) n);
                }
                into.position(into.position() + (int) n);
                return (int) n;
            }
            int errno = LinuxC.errno();
            if (errno == LinuxC.EAGAIN) {
                return 0;
            }
            if (errno != LinuxC.EINTR) {
                throw Errno.failure("read", describe(queue), errno,
                        errno == LinuxC.EBADFD ? "the queue is detached or its device is gone;" : null);
            }
        }
    }

    @Override
    public boolean writeFrame(OwnedFd queue, ByteBuffer frame) {
        int remaining = frame.remaining();
        Scratch s = Scratch.get();
        boolean direct = frame.isDirect();
        if (!direct && remaining > Scratch.DATA_BYTES) {
            throw new IllegalArgumentException("a frame of " + remaining + " bytes is larger than any TAP frame ("
                    + Scratch.DATA_BYTES + ")");
        }
        Pointer source;
        if (direct) {
            source = Native.getDirectBufferPointer(frame).share(frame.position());
        } else {
            s.data.write(0, frame.array(), frame.arrayOffset() + frame.position(), remaining);
            source = s.data;
        }
        int fd = queue.fd();
        for (;;) {
            long n = LinuxC.write(fd, source, remaining);
            if (n >= 0) {
                frame.position(frame.position() + (int) n);
                return true;
            }
            int errno = LinuxC.errno();
            if (errno == LinuxC.EAGAIN) {
                return false;
            }
            if (errno != LinuxC.EINTR) {
                String why = switch (errno) {
                    case LinuxC.EBADFD -> "the queue is detached or its device is gone;";
                    case LinuxC.EINVAL -> "the frame is malformed (too short for the virtio_net_hdr and an Ethernet header?);";
                    default -> null;
                };
                throw Errno.failure("write", describe(queue) + " (" + remaining + " bytes)", errno, why);
            }
        }
    }

    private static String describe(OwnedFd queue) {
        return "TAP queue fd " + queue.number();
    }

    private static byte[] ifname(String ifname) {
        byte[] name = ifname.getBytes(StandardCharsets.UTF_8);
        if (name.length == 0 || name.length >= IFNAMSIZ) {
            throw new IllegalArgumentException("interface name '" + ifname + "' must be 1 to " + (IFNAMSIZ - 1) + " bytes");
        }
        return name;
    }

    private static Memory ifreq(byte[] name, int flags) {
        Memory ifr = Scratch.get().small;
        ifr.clear(40);
        if (name != null) {
            ifr.write(0, name, 0, name.length);
        }
        ifr.setShort(16, (short) flags);
        return ifr;
    }
}
