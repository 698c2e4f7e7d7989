package dev.livetap.engine.qmp;

import dev.livetap.nativeio.FdOps;
import dev.livetap.nativeio.FramingException;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PathIdentity;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A tiny in-memory AF_UNIX stream + level-triggered reactor for the QMP transport tests, until
 * the native module's in-memory OS lands. Kernel behaviours it keeps: fds ride on the first byte
 * of a sendmsg and a recvmsg never reads past the start of the next fd-carrying message; a
 * bounded receive buffer per socket (sendmsg returns 0 when full); EOF after the peer closes;
 * fds in flight are closed when the receiving socket closes; closing a listener leaves a stale
 * socket path; connect to a stale socket or a non-socket path is refused (ECONNREFUSED).
 * The reactor runs on its own thread and calls handlers without holding the fake's lock.
 */
final class FakeUnix implements UnixSockets, Reactor, FdOps {
    private final Object lock = new Object();
    private final int capacity;
    private int nextFd = 100;
    private final Map<Integer, Endpoint> endpoints = new HashMap<>();
    private final Map<Integer, Listener> listeners = new HashMap<>();
    private final Map<Path, Listener> bound = new HashMap<>();
    final Set<Path> staleSockets = new HashSet<>();
    final Set<Path> regularFiles = new HashSet<>();
    final Map<Path, Integer> modes = new HashMap<>();
    /** Inode of whatever is at a path (assigned when first seen, new on each bind). */
    private final Map<Path, Long> inodes = new HashMap<>();
    private long nextInode = 1;
    /** Lock files and the fd holding each one's flock (absent: free). */
    final Set<Path> lockFiles = new HashSet<>();
    private final Map<Path, Integer> lockHolders = new HashMap<>();
    private final List<Reg> regs = new ArrayList<>();
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    private final Thread thread;
    private volatile boolean running = true;
    /** The first exception a handler or task threw; the loop stops on it. */
    volatile Throwable failure;

    private static final class Segment {
        final byte[] data;
        int off;
        List<OwnedFd> fds;

        Segment(byte[] data, List<OwnedFd> fds) {
            this.data = data;
            this.fds = fds;
        }
    }

    private static final class Endpoint {
        Endpoint peer;
        final ArrayDeque<Segment> inbound = new ArrayDeque<>();
        int inboundBytes;
        boolean closed;
    }

    private static final class Listener {
        final Path path;
        final ArrayDeque<OwnedFd> pending = new ArrayDeque<>();

        Listener(Path path) {
            this.path = path;
        }
    }

    private final class Reg implements Registration {
        final OwnedFd fd;
        final ReadinessHandler handler;
        volatile int interest;
        volatile boolean cancelled;

        Reg(OwnedFd fd, int interest, ReadinessHandler handler) {
            this.fd = fd;
            this.interest = interest;
            this.handler = handler;
        }

        @Override
        public void interest(int ops) {
            interest = ops;
            wake();
        }

        @Override
        public int interest() {
            return interest;
        }

        @Override
        public void cancel() {
            cancelled = true;
            synchronized (lock) {
                regs.remove(this);
            }
        }
    }

    FakeUnix(int capacity) {
        this.capacity = capacity;
        this.thread = new Thread(this::loop, "fake-reactor");
        thread.setDaemon(true);
        thread.start();
    }

    private void wake() {
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    private OwnedFd newFd() {
        return OwnedFd.adopt(nextFd++, this);
    }

    // ---- FdOps --------------------------------------------------------------------------------

    @Override
    public void close(int fd) {
        List<OwnedFd> inFlight = new ArrayList<>();
        synchronized (lock) {
            Endpoint e = endpoints.remove(fd);
            if (e != null) {
                e.closed = true;
                for (Segment s : e.inbound) {
                    if (s.fds != null) {
                        inFlight.addAll(s.fds);
                    }
                }
                e.inbound.clear();
            }
            lockHolders.values().removeIf(holder -> holder == fd);
            Listener l = listeners.remove(fd);
            if (l != null) {
                if (bound.remove(l.path) == l) {
                    staleSockets.add(l.path);
                }
                inFlight.addAll(l.pending);
            }
            lock.notifyAll();
        }
        OwnedFd.closeAll(inFlight);
    }

    @Override
    public int dup(int fd) {
        throw new UnsupportedOperationException("dup");
    }

    // ---- UnixSockets --------------------------------------------------------------------------

    @Override
    public OwnedFd listen(Path path, int mode) {
        synchronized (lock) {
            if (bound.containsKey(path) || staleSockets.contains(path) || regularFiles.contains(path)) {
                throw new NativeException("bind", 98, "bind(" + path + "): Address already in use");
            }
            OwnedFd fd = newFd();
            Listener l = new Listener(path);
            listeners.put(fd.fd(), l);
            bound.put(path, l);
            modes.put(path, mode);
            inodes.put(path, nextInode++);
            return fd;
        }
    }

    @Override
    public OwnedFd accept(OwnedFd listener) {
        synchronized (lock) {
            Listener l = listeners.get(listener.fd());
            return l == null ? null : l.pending.poll();
        }
    }

    @Override
    public OwnedFd connect(Path path) {
        synchronized (lock) {
            Listener l = bound.get(path);
            if (l == null) {
                if (staleSockets.contains(path) || regularFiles.contains(path)) {
                    throw new NativeException("connect", 111, "connect(" + path + "): Connection refused");
                }
                throw new NativeException("connect", 2, "connect(" + path + "): No such file or directory");
            }
            OwnedFd[] pair = pairLocked();
            l.pending.add(pair[1]);
            lock.notifyAll();
            return pair[0];
        }
    }

    @Override
    public OwnedFd[] socketPair() {
        synchronized (lock) {
            return pairLocked();
        }
    }

    private OwnedFd[] pairLocked() {
        OwnedFd a = newFd();
        OwnedFd b = newFd();
        Endpoint ea = new Endpoint();
        Endpoint eb = new Endpoint();
        ea.peer = eb;
        eb.peer = ea;
        endpoints.put(a.fd(), ea);
        endpoints.put(b.fd(), eb);
        return new OwnedFd[] {a, b};
    }

    @Override
    public PeerCredentials peerCredentials(OwnedFd socket) {
        return new PeerCredentials(1, 0, 0);
    }

    @Override
    public int sendmsg(OwnedFd socket, ByteBuffer data, List<OwnedFd> fds) {
        synchronized (lock) {
            Endpoint e = endpoints.get(socket.fd());
            if (e.peer.closed) {
                throw new NativeException("sendmsg", 32, "sendmsg: Broken pipe");
            }
            int room = capacity - e.peer.inboundBytes;
            if (room <= 0 || !data.hasRemaining()) {
                return 0;
            }
            int n = Math.min(room, data.remaining());
            byte[] bytes = new byte[n];
            data.get(bytes);
            List<OwnedFd> copies = new ArrayList<>();
            for (int i = 0; i < fds.size(); i++) {
                copies.add(newFd()); // the kernel installs new descriptors for the receiver
            }
            e.peer.inbound.add(new Segment(bytes, copies.isEmpty() ? null : copies));
            e.peer.inboundBytes += n;
            lock.notifyAll();
            return n;
        }
    }

    @Override
    public int recvmsg(OwnedFd socket, ByteBuffer into, List<OwnedFd> fdsOut, int maxFds) {
        synchronized (lock) {
            Endpoint e = endpoints.get(socket.fd());
            if (e.inbound.isEmpty()) {
                return e.peer.closed ? -1 : 0;
            }
            int copied = 0;
            while (into.hasRemaining() && !e.inbound.isEmpty()) {
                Segment s = e.inbound.peek();
                if (s.fds != null) {
                    if (copied > 0) {
                        break; // never merge into the next fd-carrying message
                    }
                    if (s.fds.size() > maxFds) {
                        List<OwnedFd> drop = s.fds;
                        s.fds = null;
                        OwnedFd.closeAll(drop);
                        throw new FramingException("MSG_CTRUNC: more than " + maxFds + " fds");
                    }
                    fdsOut.addAll(s.fds);
                    s.fds = null;
                }
                int n = Math.min(into.remaining(), s.data.length - s.off);
                into.put(s.data, s.off, n);
                s.off += n;
                copied += n;
                e.inboundBytes -= n;
                if (s.off == s.data.length) {
                    e.inbound.poll();
                }
            }
            lock.notifyAll();
            return copied;
        }
    }

    @Override
    public void unlinkSocket(Path path) {
        synchronized (lock) {
            staleSockets.remove(path);
            bound.remove(path);
            inodes.remove(path);
        }
    }

    @Override
    public Optional<PathIdentity> identity(Path path) {
        synchronized (lock) {
            if (!exists(path) && !lockFiles.contains(path)) {
                return Optional.empty();
            }
            return Optional.of(new PathIdentity(1, inodes.computeIfAbsent(path, p -> nextInode++)));
        }
    }

    @Override
    public boolean unlinkIfSame(Path path, PathIdentity expected) {
        synchronized (lock) {
            if (!identity(path).equals(Optional.of(expected))) {
                return false;
            }
            staleSockets.remove(path);
            bound.remove(path);
            regularFiles.remove(path);
            lockFiles.remove(path);
            inodes.remove(path);
            return true;
        }
    }

    @Override
    public Optional<OwnedFd> tryLock(Path lockFile) {
        synchronized (lock) {
            lockFiles.add(lockFile);
            if (lockHolders.containsKey(lockFile)) {
                return Optional.empty();
            }
            OwnedFd fd = newFd();
            lockHolders.put(lockFile, fd.fd());
            return Optional.of(fd);
        }
    }

    /** Test view: another process holds the lock beside {@code socket} (its lock fd is returned, close it to let go). */
    OwnedFd holdLock(Path lockFile) {
        return tryLock(lockFile).orElseThrow();
    }

    /** Test view: does anything (live or stale socket, file) exist at {@code path}? */
    boolean exists(Path path) {
        synchronized (lock) {
            return bound.containsKey(path) || staleSockets.contains(path) || regularFiles.contains(path);
        }
    }

    // ---- Reactor ------------------------------------------------------------------------------

    @Override
    public Registration register(OwnedFd fd, int interestOps, ReadinessHandler handler) {
        synchronized (lock) {
            Reg r = new Reg(fd, interestOps, handler);
            regs.add(r);
            lock.notifyAll();
            return r;
        }
    }

    @Override
    public void execute(Runnable task) {
        synchronized (lock) {
            tasks.add(task);
            lock.notifyAll();
        }
    }

    @Override
    public boolean inReactorThread() {
        return Thread.currentThread() == thread;
    }

    @Override
    public void close() {
        running = false;
        wake();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private int readiness(Reg r) {
        Endpoint e = endpoints.get(r.fd.number());
        if (e != null) {
            int ops = 0;
            if (!e.inbound.isEmpty() || e.peer.closed) {
                ops |= READ;
            }
            if (e.peer.closed) {
                ops |= HANGUP | WRITE;
            } else if (e.peer.inboundBytes < capacity) {
                ops |= WRITE;
            }
            return ops;
        }
        Listener l = listeners.get(r.fd.number());
        return l != null && !l.pending.isEmpty() ? READ : 0;
    }

    private void loop() {
        while (running) {
            List<Runnable> work = new ArrayList<>();
            synchronized (lock) {
                work.addAll(tasks);
                tasks.clear();
                for (Reg r : List.copyOf(regs)) {
                    int ready = readiness(r) & (r.interest | HANGUP);
                    if (ready != 0) {
                        work.add(() -> {
                            if (!r.cancelled) {
                                r.handler.onReady(ready);
                            }
                        });
                    }
                }
                if (work.isEmpty()) {
                    try {
                        lock.wait(5);
                    } catch (InterruptedException ie) {
                        return;
                    }
                    continue;
                }
            }
            for (Runnable w : work) {
                try {
                    w.run();
                } catch (RuntimeException | Error t) {
                    failure = t; // reported by the tests' tear-down
                    running = false;
                    return;
                }
            }
        }
    }
}
