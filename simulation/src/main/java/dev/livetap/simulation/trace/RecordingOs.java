package dev.livetap.simulation.trace;

import dev.livetap.nativeio.Availability;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.MonotonicClock;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunInfo;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * An {@link Os} decorator over one in-memory process: every call becomes a trace line, every
 * descriptor handed out is remembered (a crash closes them all, as the kernel does on exit), and
 * every reactor registration is tracked with its interest set (the SingleReaderPerQueue invariant
 * reads it). {@link #registerHook} lets a fault or a planted bug act on registrations.
 */
public final class RecordingOs implements Os {
    /** A reactor registration as the invariants see it. */
    public static final class Tracked implements Reactor.Registration {
        private final Reactor.Registration delegate;
        private final OwnedFd fd;
        private final String call;
        private final RecordingOs os;

        Tracked(RecordingOs os, Reactor.Registration delegate, OwnedFd fd, String call) {
            this.os = os;
            this.delegate = delegate;
            this.fd = fd;
            this.call = call;
        }

        public OwnedFd fd() {
            return fd;
        }

        public boolean live() {
            return os.registrations.contains(this);
        }

        @Override
        public void interest(int ops) {
            os.log("reactor.interest(fd " + fd.number() + ", " + ops + ")");
            delegate.interest(ops);
        }

        @Override
        public int interest() {
            return delegate.interest();
        }

        @Override
        public void cancel() {
            os.log("reactor.cancel(fd " + fd.number() + ")");
            os.registrations.remove(this);
            delegate.cancel();
        }

        @Override
        public String toString() {
            return call;
        }
    }

    private final InMemoryOs base;
    private final TraceLog log;
    private final List<OwnedFd> handedOut = new ArrayList<>();
    private final List<Tracked> registrations = new ArrayList<>();
    private Function<Tracked, Tracked> registerHook = Function.identity();
    private boolean crashed;

    private final Tun tun;
    private final UnixSockets unix;
    private final FdInspector fds;
    private final Reactor reactor;

    public RecordingOs(InMemoryOs base, TraceLog log) {
        this.base = base;
        this.log = log;
        this.tun = new RecTun();
        this.unix = new RecUnix();
        this.fds = new RecFds();
        this.reactor = new RecReactor();
    }

    public InMemoryOs base() {
        return base;
    }

    public String name() {
        return base.name();
    }

    public void registerHook(Function<Tracked, Tracked> hook) {
        this.registerHook = hook;
    }

    /** Live registrations, in registration order. */
    public List<Tracked> registrations() {
        registrations.removeIf(r -> !r.fd.isOpen());
        return List.copyOf(registrations);
    }

    private boolean muted;

    /** No more trace lines (the run is stopping its actors). */
    public void mute() {
        muted = true;
    }

    public boolean crashed() {
        return crashed;
    }

    /**
     * The process dies: its reactor stops (no handler runs again) and every descriptor it holds is
     * closed, as the kernel does on exit. Later closes by its (dying) actors are no-ops.
     */
    public void crash() {
        log("process exits (crash)");
        crashed = true;
        base.reactor().close();
        registrations.clear();
        for (OwnedFd fd : handedOut) {
            if (fd.isOpen()) {
                fd.close();
            }
        }
    }

    void log(String s) {
        if (crashed || muted) {
            return; // a dead process's actors wind down in Pekko's (hash) order: not part of the trace
        }
        log.add("os:" + base.name() + " " + s);
    }

    private OwnedFd out(OwnedFd fd) {
        if (fd != null) {
            handedOut.add(fd);
        }
        return fd;
    }

    private static String n(OwnedFd fd) {
        return fd == null ? "null" : String.valueOf(fd.number());
    }

    @Override
    public Tun tun() {
        return tun;
    }

    @Override
    public UnixSockets unix() {
        return unix;
    }

    @Override
    public FdInspector fds() {
        return fds;
    }

    @Override
    public Reactor reactor() {
        return reactor;
    }

    @Override
    public MonotonicClock clock() {
        return base.clock();
    }

    @Override
    public Availability availability() {
        return base.availability();
    }

    @Override
    public boolean threadInProcessNetns() {
        return base.threadInProcessNetns();
    }

    private final class RecTun implements Tun {
        private final Tun t = base.tun();

        @Override
        public List<OwnedFd> openQueues(String ifname, int queues, int flags) {
            List<OwnedFd> r = t.openQueues(ifname, queues, flags);
            r.forEach(RecordingOs.this::out);
            log("tun.openQueues(" + ifname + ", " + queues + ", " + flags + ") -> " + r);
            return r;
        }

        @Override
        public TunInfo info(OwnedFd queue) {
            TunInfo i = t.info(queue);
            log("tun.info(fd " + n(queue) + ") -> " + i);
            return i;
        }

        @Override
        public int features() {
            return t.features();
        }

        @Override
        public void setVnetHdrSize(OwnedFd queue, int size) {
            log("tun.setVnetHdrSize(fd " + n(queue) + ", " + size + ")");
            t.setVnetHdrSize(queue, size);
        }

        @Override
        public int vnetHdrSize(OwnedFd queue) {
            return t.vnetHdrSize(queue);
        }

        @Override
        public void setQueueAttached(OwnedFd queue, boolean attached) {
            log("tun.setQueueAttached(fd " + n(queue) + ", " + attached + ")");
            t.setQueueAttached(queue, attached);
        }

        @Override
        public void setOffload(OwnedFd queue, int offloads) {
            log("tun.setOffload(fd " + n(queue) + ", " + offloads + ")");
            t.setOffload(queue, offloads);
        }

        @Override
        public void setPersist(OwnedFd queue, boolean persist) {
            log("tun.setPersist(fd " + n(queue) + ", " + persist + ")");
            t.setPersist(queue, persist);
        }

        @Override
        public int readFrame(OwnedFd queue, ByteBuffer into) {
            int len = t.readFrame(queue, into);
            log("tun.readFrame(fd " + n(queue) + ") -> " + len);
            return len;
        }

        @Override
        public boolean writeFrame(OwnedFd queue, ByteBuffer frame) {
            int len = frame.remaining();
            boolean ok = t.writeFrame(queue, frame);
            log("tun.writeFrame(fd " + n(queue) + ", " + len + ") -> " + ok);
            return ok;
        }
    }

    private final class RecUnix implements UnixSockets {
        private final UnixSockets u = base.unix();

        @Override
        public OwnedFd listen(Path path, int mode) {
            OwnedFd fd = out(u.listen(path, mode));
            log("unix.listen(" + path + ") -> fd " + n(fd));
            return fd;
        }

        @Override
        public OwnedFd accept(OwnedFd listener) {
            OwnedFd fd = out(u.accept(listener));
            log("unix.accept(fd " + n(listener) + ") -> " + n(fd));
            return fd;
        }

        @Override
        public OwnedFd connect(Path path) {
            OwnedFd fd = out(u.connect(path));
            log("unix.connect(" + path + ") -> fd " + n(fd));
            return fd;
        }

        @Override
        public OwnedFd[] socketPair() {
            OwnedFd[] p = u.socketPair();
            out(p[0]);
            out(p[1]);
            log("unix.socketPair() -> " + n(p[0]) + "," + n(p[1]));
            return p;
        }

        @Override
        public PeerCredentials peerCredentials(OwnedFd socket) {
            return u.peerCredentials(socket);
        }

        @Override
        public boolean isUnixStreamSocket(OwnedFd fd) {
            return u.isUnixStreamSocket(fd);
        }

        @Override
        public int sendmsg(OwnedFd socket, ByteBuffer data, List<OwnedFd> fds) {
            int len = data.remaining();
            int r = u.sendmsg(socket, data, fds);
            log("unix.sendmsg(fd " + n(socket) + ", " + len + " bytes, " + fds.size() + " fds) -> " + r);
            return r;
        }

        @Override
        public int recvmsg(OwnedFd socket, ByteBuffer into, List<OwnedFd> fdsOut, int maxFds) {
            int before = fdsOut.size();
            try {
                int r = u.recvmsg(socket, into, fdsOut, maxFds);
                for (int i = before; i < fdsOut.size(); i++) {
                    out(fdsOut.get(i));
                }
                log("unix.recvmsg(fd " + n(socket) + ") -> " + r + " bytes, " + (fdsOut.size() - before) + " fds");
                return r;
            } catch (RuntimeException e) {
                log("unix.recvmsg(fd " + n(socket) + ") -> " + e.getClass().getSimpleName());
                throw e;
            }
        }

        @Override
        public void unlinkSocket(Path path) {
            log("unix.unlink(" + path + ")");
            u.unlinkSocket(path);
        }

        @Override
        public java.util.Optional<dev.livetap.nativeio.PathIdentity> identity(Path path) {
            return u.identity(path);
        }

        @Override
        public boolean unlinkIfSame(Path path, dev.livetap.nativeio.PathIdentity expected) {
            boolean r = u.unlinkIfSame(path, expected);
            log("unix.unlinkIfSame(" + path + ") -> " + r);
            return r;
        }

        @Override
        public java.util.Optional<OwnedFd> tryLock(Path lockFile) {
            java.util.Optional<OwnedFd> r = u.tryLock(lockFile);
            r.ifPresent(RecordingOs.this::out);
            log("unix.tryLock(" + lockFile + ") -> " + r.map(fd -> "fd " + n(fd)).orElse("held elsewhere"));
            return r;
        }
    }

    private final class RecFds implements FdInspector {
        private final FdInspector f = base.fds();

        @Override
        public FdKind kind(OwnedFd fd) {
            FdKind k = f.kind(fd);
            log("fstat(fd " + n(fd) + ") -> " + k);
            return k;
        }

        @Override
        public boolean sameOpenFile(OwnedFd a, OwnedFd b) {
            boolean s = f.sameOpenFile(a, b);
            log("kcmp(fd " + n(a) + ", fd " + n(b) + ") -> " + s);
            return s;
        }

        @Override
        public int compareOpenFiles(OwnedFd a, OwnedFd b) {
            int c = f.compareOpenFiles(a, b);
            log("kcmp(fd " + n(a) + ", fd " + n(b) + ") -> " + c);
            return c;
        }

        @Override
        public boolean isNonBlocking(OwnedFd fd) {
            return f.isNonBlocking(fd);
        }

        @Override
        public void setNonBlocking(OwnedFd fd, boolean nonBlocking) {
            log("fcntl(fd " + n(fd) + ", O_NONBLOCK=" + nonBlocking + ")");
            f.setNonBlocking(fd, nonBlocking);
        }

        @Override
        public int countProcessFds() {
            return f.countProcessFds();
        }

        @Override
        public OwnedFd adopt(int fd) {
            OwnedFd a = f.adopt(fd);
            log("adopt(" + fd + ") -> fd " + n(a));
            return a;
        }

        @Override
        public OwnedFd[] pipe() {
            OwnedFd[] p = f.pipe();
            out(p[0]);
            out(p[1]);
            log("pipe() -> " + n(p[0]) + "," + n(p[1]));
            return p;
        }
    }

    private final class RecReactor implements Reactor {
        private final Reactor r = base.reactor();

        @Override
        public Registration register(OwnedFd fd, int interestOps, ReadinessHandler handler) {
            log("reactor.register(fd " + n(fd) + ", " + interestOps + ")");
            Registration reg = r.register(fd, interestOps, ready -> {
                log("ready(fd " + fd.number() + ", " + ready + ")");
                handler.onReady(ready);
            });
            Tracked t = new Tracked(RecordingOs.this, reg, fd, "register(fd " + n(fd) + ")");
            registrations.add(t);
            return registerHook.apply(t);
        }

        @Override
        public void execute(Runnable task) {
            r.execute(task);
        }

        @Override
        public boolean inReactorThread() {
            return r.inReactorThread();
        }

        @Override
        public void close() {
            r.close();
        }
    }
}
