package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The host-wide part of the in-memory OS: open files, TAP devices, the AF_UNIX path registry,
 * the virtual clock, and the fault hooks. Processes ({@link InMemoryOs}) share one kernel, so fds
 * sent between them over a socket refer to the same open files, as on Linux. One lock guards all
 * state; nothing iterates in hash order and nothing reads the wall clock.
 */
public final class InMemoryKernel {
    /** net.core.wmem_default on the machines we measured. */
    public static final int DEFAULT_SOCKET_BUFFER_BYTES = 212_992;

    final Object lock = new Object();
    private final VirtualClock clock = new VirtualClock();
    private final Faults faults = new Faults(this);
    final Map<String, TapDevice> devices = new TreeMap<>();
    final Map<Path, OpenFile.Listener> paths = new TreeMap<>();
    /** Lock files by path (a separate name space from sockets: livetap's lock files are never sockets). */
    final Map<Path, OpenFile.LockFileInode> lockFiles = new TreeMap<>();
    private final List<InMemoryOs> processes = new ArrayList<>();
    private long nextFileId = 1;
    private int nextPid = 1000;
    int socketBufferBytes = DEFAULT_SOCKET_BUFFER_BYTES;

    /** A new process with credentials (pid = 1000, 1001, ..., uid 0, gid 0). */
    public InMemoryOs newProcess(String name) {
        synchronized (lock) {
            return newProcess(name, new PeerCredentials(nextPid, 0, 0));
        }
    }

    public InMemoryOs newProcess(String name, PeerCredentials credentials) {
        synchronized (lock) {
            nextPid = Math.max(nextPid, credentials.pid()) + 1;
            InMemoryOs os = new InMemoryOs(this, name, credentials);
            processes.add(os);
            return os;
        }
    }

    public List<InMemoryOs> processes() {
        synchronized (lock) {
            return List.copyOf(processes);
        }
    }

    public VirtualClock clock() {
        return clock;
    }

    public Faults faults() {
        return faults;
    }

    /** Receive buffer of sockets created from now on; a sendmsg beyond it returns 0 (would block). */
    public void socketBufferBytes(int bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("socket buffer must hold at least one byte: " + bytes);
        }
        synchronized (lock) {
            socketBufferBytes = bytes;
        }
    }

    // ------------------------------------------------------------------ host side of TAP devices

    /**
     * The network sends {@code frame} (an Ethernet frame, no virtio_net_hdr) into TAP {@code ifname}:
     * it lands on one attached queue chosen by flow hash, or is dropped (and counted) when no queue
     * is attached or that queue's ring already holds 500 frames.
     *
     * @return true if queued, false if dropped
     */
    public boolean hostSend(String ifname, byte[] frame) {
        synchronized (lock) {
            TapDevice dev = device(ifname);
            if (dev.attached.isEmpty()) {
                dev.dropped++;
                return false;
            }
            OpenFile.TapQueue q = dev.attached.get(TapDevice.flowHash(frame) % dev.attached.size());
            if (q.ring.size() >= TapDevice.RING_FRAMES) {
                dev.dropped++;
                return false;
            }
            q.ring.add(frame.clone());
            dev.delivered++;
            return true;
        }
    }

    /** The next frame a queue of {@code ifname} wrote towards the network (virtio_net_hdr removed). */
    public Optional<byte[]> hostReceive(String ifname) {
        synchronized (lock) {
            return Optional.ofNullable(device(ifname).toHost.poll());
        }
    }

    /** Frames dropped on the way into {@code ifname}'s queues (no queue attached, or ring full). */
    public long droppedFrames(String ifname) {
        synchronized (lock) {
            return device(ifname).dropped;
        }
    }

    /** Names of existing TAP devices, sorted. */
    public List<String> tapDevices() {
        synchronized (lock) {
            return List.copyOf(devices.keySet());
        }
    }

    public boolean tapExists(String ifname) {
        synchronized (lock) {
            return devices.containsKey(ifname);
        }
    }

    /** Queues of {@code ifname}: attached and detached. */
    public int tapQueueCount(String ifname) {
        synchronized (lock) {
            return device(ifname).queueCount();
        }
    }

    /** Frames waiting in the rings of {@code ifname}'s queues, in tfiles order (detached queues last). */
    public List<Integer> tapRingSizes(String ifname) {
        synchronized (lock) {
            TapDevice dev = device(ifname);
            List<Integer> sizes = new ArrayList<>();
            dev.attached.forEach(q -> sizes.add(q.ring.size()));
            dev.disabled.forEach(q -> sizes.add(q.ring.size()));
            return sizes;
        }
    }

    /** TUNSETOFFLOAD bits last set on {@code ifname}. */
    public int tapOffloads(String ifname) {
        synchronized (lock) {
            return device(ifname).offloads;
        }
    }

    private TapDevice device(String ifname) {
        TapDevice dev = devices.get(ifname);
        if (dev == null) {
            throw new IllegalArgumentException("no TAP device named " + ifname + "; devices: " + devices.keySet());
        }
        return dev;
    }

    // ------------------------------------------------------------------ internals (hold the lock)

    long nextFileId() {
        return nextFileId++;
    }

    void ref(OpenFile f) {
        f.refs++;
    }

    void unref(OpenFile f) {
        if (--f.refs == 0) {
            f.release(this);
        }
    }

    void unrefAll(Collection<OpenFile> files) {
        if (files != null) {
            for (OpenFile f : files) {
                unref(f);
            }
        }
    }

    /** TUNSETIFF of a fresh /dev/net/tun open; the kernel's checks, in the kernel's order. */
    OpenFile.TapQueue openQueue(String ifname, int flags) {
        String call = "ioctl(TUNSETIFF)";
        if (ifname.isEmpty() || ifname.length() > 15) {
            throw new NativeException(call, Errno.EINVAL, call + " on " + ifname
                    + ": interface names have 1 to 15 characters (EINVAL)");
        }
        boolean tap = (flags & TunFlags.IFF_TAP) != 0;
        boolean tun = (flags & TunFlags.IFF_TUN) != 0;
        if (tap == tun) {
            throw new NativeException(call, Errno.EINVAL, String.format(
                    "%s on %s: flags 0x%04X must name exactly one of IFF_TUN and IFF_TAP (EINVAL)", call, ifname, flags));
        }
        TapDevice dev = devices.get(ifname);
        if (dev == null) {
            dev = new TapDevice(ifname, flags);
            devices.put(ifname, dev);
        } else {
            boolean mq = (flags & TunFlags.IFF_MULTI_QUEUE) != 0;
            if (mq != dev.multiQueue() || (dev.flags & (TunFlags.IFF_TAP | TunFlags.IFF_TUN))
                    != (flags & (TunFlags.IFF_TAP | TunFlags.IFF_TUN))) {
                throw new NativeException(call, Errno.EINVAL, String.format(
                        "%s on %s queue %d: flags 0x%04X do not match the device's 0x%04X in IFF_MULTI_QUEUE or type (EINVAL)",
                        call, ifname, dev.queueCount() + 1, flags, dev.flags));
            }
            if (!dev.multiQueue() && dev.queueCount() > 0) {
                throw new NativeException(call, Errno.EBUSY, call + " on " + ifname
                        + ": a single-queue TAP device is already open (EBUSY)");
            }
            if (dev.queueCount() >= Tun.MAX_QUEUES) {
                throw new NativeException.TooManyQueuesException(call, Errno.E2BIG, call + " on " + ifname
                        + " queue " + (dev.queueCount() + 1) + ": at most " + Tun.MAX_QUEUES
                        + " queues per TAP device (E2BIG)");
            }
        }
        OpenFile.TapQueue q = new OpenFile.TapQueue(this, dev);
        dev.attached.add(q);
        return q;
    }

    /** The last reference to a queue is gone: detach it; the device goes with its last queue unless persistent. */
    void closeQueue(OpenFile.TapQueue q) {
        TapDevice dev = q.device;
        dev.detach(q);
        dev.disabled.remove(q);
        q.ring.clear();
        if (dev.queueCount() == 0 && !dev.persist) {
            devices.remove(dev.name, dev);
        }
    }

    OpenFile.SocketEnd[] connectedPair(PeerCredentials a, PeerCredentials b) {
        OpenFile.SocketEnd x = new OpenFile.SocketEnd(this, socketBufferBytes);
        OpenFile.SocketEnd y = new OpenFile.SocketEnd(this, socketBufferBytes);
        x.peer = y;
        y.peer = x;
        x.peerCreds = b;
        y.peerCreds = a;
        return new OpenFile.SocketEnd[] {x, y};
    }
}
