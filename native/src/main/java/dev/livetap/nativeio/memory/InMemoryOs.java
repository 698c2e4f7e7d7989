package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.Availability;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.FdOps;
import dev.livetap.nativeio.MonotonicClock;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.UnixSockets;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * One process of the in-memory OS: its own descriptor table (numbers from a counter, never
 * reused, so a stale number is caught), a ledger of opens and closes, and a caller-driven
 * {@link InMemoryReactor}. Host-wide state (TAP devices, sockets, the clock, faults) lives in the
 * {@link InMemoryKernel} it shares with other processes. {@code new InMemoryOs()} makes a kernel
 * with this one process.
 */
public final class InMemoryOs implements Os {
    private final InMemoryKernel kernel;
    private final String name;
    private PeerCredentials credentials;
    private final FdTable table = new FdTable();
    private final InMemoryReactor reactor;
    private final MemoryUnixSockets unix = new MemoryUnixSockets(this);
    private final MemoryTun tun = new MemoryTun(this);
    private final MemoryFds fds = new MemoryFds(this);

    /** A fresh kernel with one process, "process-1000". */
    public InMemoryOs() {
        this(new InMemoryKernel(), "process-1000", new PeerCredentials(1000, 0, 0));
    }

    InMemoryOs(InMemoryKernel kernel, String name, PeerCredentials credentials) {
        this.kernel = kernel;
        this.name = name;
        this.credentials = credentials;
        this.reactor = new InMemoryReactor(this);
    }

    public InMemoryKernel kernel() {
        return kernel;
    }

    public String name() {
        return name;
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
    public InMemoryReactor reactor() {
        return reactor;
    }

    @Override
    public MonotonicClock clock() {
        return kernel.clock();
    }

    public VirtualClock virtualClock() {
        return kernel.clock();
    }

    public Faults faults() {
        return kernel.faults();
    }

    @Override
    public Availability availability() {
        return new Availability(true, true, true, Optional.empty());
    }

    /** There are no network namespaces in the in-memory OS: always true. */
    @Override
    public boolean threadInProcessNetns() {
        return true;
    }

    /** See {@link InMemoryKernel#hostSend(String, byte[])}. */
    public boolean hostSend(String ifname, byte[] frame) {
        return kernel.hostSend(ifname, frame);
    }

    /** See {@link InMemoryKernel#hostReceive(String)}. */
    public Optional<byte[]> hostReceive(String ifname) {
        return kernel.hostReceive(ifname);
    }

    /** What SO_PEERCRED reports to the peers of sockets this process creates from now on. */
    public void credentials(PeerCredentials creds) {
        synchronized (kernel.lock) {
            this.credentials = creds;
        }
    }

    public PeerCredentials credentials() {
        synchronized (kernel.lock) {
            return credentials;
        }
    }

    public FdLedger ledger() {
        synchronized (kernel.lock) {
            return new FdLedger(table.opened, table.closed, table.entries.size());
        }
    }

    /** One line per open descriptor ("fd 7: unix stream socket#3 (socketPair)"), for leak messages. */
    public String describeOpenFds() {
        synchronized (kernel.lock) {
            StringBuilder b = new StringBuilder();
            table.entries.forEach((fd, e) -> b.append("fd ").append(fd).append(": ").append(e.file)
                    .append(" (").append(e.origin).append(")\n"));
            return b.toString();
        }
    }

    /** A descriptor of any kind fstat can report (e.g. OTHER_CHAR_DEVICE for /dev/null), for tests of fd validation. */
    public OwnedFd openFake(FdKind kind, String description) {
        synchronized (kernel.lock) {
            return install(new OpenFile.Fake(kernel, kind, description), "openFake");
        }
    }

    @Override
    public String toString() {
        return "InMemoryOs(" + name + ")";
    }

    // ------------------------------------------------------------------ internals (hold the kernel lock)

    OwnedFd install(OpenFile file, String origin) {
        int fd = table.add(file, origin);
        kernel.ref(file);
        return OwnedFd.adopt(fd, table);
    }

    /** An owner for a table entry whose number came from outside (the entry's current owner gives it up). */
    OwnedFd adoptNumber(int fd) {
        if (!table.entries.containsKey(fd)) {
            throw new NativeException("fcntl(F_GETFL)", Errno.EBADF, "fd " + fd + " handed in to adopt: bad file descriptor (EBADF)");
        }
        return OwnedFd.adopt(fd, table);
    }

    OpenFile fileOf(OwnedFd fd, String call) {
        if (fd.ops() != table) {
            throw new IllegalArgumentException(call + ": " + fd + " does not belong to " + this);
        }
        FdTable.Entry e = table.entries.get(fd.fd());
        if (e == null) {
            throw new NativeException(call, Errno.EBADF, call + " on fd " + fd.number() + ": bad file descriptor (EBADF)");
        }
        return e.file;
    }

    /** The socket end behind {@code fd}, of whichever in-memory process owns it. */
    static OpenFile.SocketEnd socketOf(OwnedFd fd, String call) {
        if (!(fd.ops() instanceof FdTable t)) {
            throw new IllegalArgumentException(call + ": " + fd + " is not an in-memory descriptor");
        }
        OpenFile f = t.owner().fileOf(fd, call);
        if (!(f instanceof OpenFile.SocketEnd s)) {
            throw new NativeException(call, Errno.ENOTSOCK, call + " on fd " + fd.number() + ": " + f
                    + " is not a connected socket (ENOTSOCK)");
        }
        return s;
    }

    /** The descriptor table; also the {@link FdOps} of every OwnedFd this process creates. */
    final class FdTable implements FdOps {
        private final Map<Integer, Entry> entries = new TreeMap<>();
        private int next = 3;
        private long opened;
        private long closed;

        record Entry(OpenFile file, String origin) {
        }

        InMemoryOs owner() {
            return InMemoryOs.this;
        }

        int add(OpenFile file, String origin) {
            int fd = next++;
            entries.put(fd, new Entry(file, origin));
            opened++;
            return fd;
        }

        int size() {
            return entries.size();
        }

        @Override
        public void close(int fd) {
            synchronized (kernel.lock) {
                Entry e = entries.remove(fd);
                if (e == null) {
                    throw new NativeException("close", Errno.EBADF, "close(" + fd + ") in " + name
                            + ": bad file descriptor (EBADF)");
                }
                closed++;
                kernel.unref(e.file);
            }
        }

        @Override
        public int dup(int fd) {
            synchronized (kernel.lock) {
                Entry e = entries.get(fd);
                if (e == null) {
                    throw new NativeException("fcntl(F_DUPFD_CLOEXEC)", Errno.EBADF, "fcntl(F_DUPFD_CLOEXEC) of fd "
                            + fd + " in " + name + ": bad file descriptor (EBADF)");
                }
                int copy = add(e.file, "dup of fd " + fd);
                kernel.ref(e.file);
                return copy;
            }
        }
    }

    /** The reactor needs readiness of a descriptor number; null once it is closed. */
    Integer readiness(int fd) {
        synchronized (kernel.lock) {
            FdTable.Entry e = table.entries.get(fd);
            return e == null ? null : e.file.readiness();
        }
    }

    Object lock() {
        return kernel.lock;
    }

    int tableSize() {
        synchronized (kernel.lock) {
            return table.size();
        }
    }

    /** Installs fds that arrived over a socket; "origin" says how. */
    OwnedFd installReceived(OpenFile file) {
        OwnedFd fd = install(file, "recvmsg");
        kernel.unref(file); // the in-flight reference becomes the table's
        return fd;
    }
}
