package dev.livetap.nativeio.linux;

import dev.livetap.nativeio.Availability;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.MonotonicClock;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.UnixSockets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Linux kernel through JNA. One per process ({@link #instance()}); its reactor is the
 * process's single epoll thread, {@code livetap-reactor}, started on first use.
 */
public final class JnaOs implements Os {
    /** Name of the reactor thread. */
    public static final String REACTOR_THREAD = "livetap-reactor";
    private static final Logger LOG = LoggerFactory.getLogger(JnaOs.class);
    private static final int CAP_NET_ADMIN = 12;
    private static volatile JnaOs instance;

    private final Availability availability;
    private final Throwable nativeFailure;
    private final Tun tun;
    private final UnixSockets unix;
    private final FdInspector fds;
    private EpollReactor reactor;

    private JnaOs() {
        Throwable failure = null;
        try {
            LinuxC.getpid();
        } catch (Throwable t) { // UnsatisfiedLinkError, NoClassDefFoundError: JNA could not bind libc
            failure = t;
        }
        nativeFailure = failure;
        availability = probe(failure);
        if (failure == null) {
            tun = new LinuxTun();
            unix = new LinuxUnixSockets();
            fds = new LinuxFdInspector();
        } else {
            tun = null;
            unix = null;
            fds = null;
        }
        availability.unavailabilityCause().ifPresent(cause -> LOG.warn("native layer degraded: {}", cause));
    }

    /** The process's kernel OS, created on first call. */
    public static JnaOs instance() {
        JnaOs os = instance;
        if (os == null) {
            synchronized (JnaOs.class) {
                os = instance;
                if (os == null) {
                    os = new JnaOs();
                    instance = os;
                }
            }
        }
        return os;
    }

    @Override
    public Tun tun() {
        requireNative("tun");
        return tun;
    }

    @Override
    public UnixSockets unix() {
        requireNative("unix sockets");
        return unix;
    }

    @Override
    public FdInspector fds() {
        requireNative("fd inspection");
        return fds;
    }

    /** The process's reactor; started on first call, and started again if it was closed. */
    @Override
    public synchronized Reactor reactor() {
        requireNative("the reactor");
        if (reactor == null || reactor.isClosed()) {
            reactor = new EpollReactor(REACTOR_THREAD);
        }
        return reactor;
    }

    @Override
    public MonotonicClock clock() {
        return MonotonicClock.SYSTEM;
    }

    @Override
    public Availability availability() {
        return availability;
    }

    @Override
    public boolean threadInProcessNetns() {
        return netnsLink("/proc/thread-self/ns/net").equals(netnsLink("/proc/self/ns/net"));
    }

    /** The target of a /proc ns link, e.g. {@code net:[4026531840]}. */
    static String netnsLink(String link) {
        try {
            return Files.readSymbolicLink(Path.of(link)).toString();
        } catch (IOException e) {
            throw new NativeException.UnavailableException("readlink(" + link + ")", "cannot read " + link
                    + " to compare network namespaces (design decision 6): " + e);
        }
    }

    private void requireNative(String what) {
        if (nativeFailure != null) {
            throw new NativeException.UnavailableException("dlopen(libc)", what + " unavailable: "
                    + availability.unavailabilityCause().orElse(String.valueOf(nativeFailure)));
        }
    }

    private static Availability probe(Throwable nativeFailure) {
        List<String> causes = new ArrayList<>();
        boolean nativeAccess = nativeFailure == null;
        if (!nativeAccess) {
            causes.add("JNA cannot bind libc (" + nativeFailure + "); check that -Djna.tmpdir names a writable directory "
                    + "on a filesystem that allows exec");
        }
        boolean tun = false;
        if (!Files.exists(Path.of(LinuxTun.DEVICE))) {
            causes.add(LinuxTun.DEVICE + " does not exist: load the tun module or pass the device into the container");
        } else if (nativeAccess) {
            int fd = LinuxC.open(LinuxTun.DEVICE, LinuxC.O_RDWR | LinuxC.O_CLOEXEC | LinuxC.O_NONBLOCK, 0);
            if (fd < 0) {
                causes.add(LinuxTun.DEVICE + " cannot be opened: " + Errno.describe(LinuxC.errno()));
            } else {
                LinuxC.close(fd);
                tun = true;
            }
        } else {
            causes.add(LinuxTun.DEVICE + " exists but cannot be opened without JNA");
        }
        boolean netAdmin = false;
        try {
            long capEff = -1;
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    capEff = Long.parseUnsignedLong(line.substring("CapEff:".length()).trim(), 16);
                }
            }
            if (capEff == -1) {
                causes.add("no CapEff line in /proc/self/status: cannot tell whether CAP_NET_ADMIN is held");
            } else {
                netAdmin = (capEff & (1L << CAP_NET_ADMIN)) != 0;
                if (!netAdmin) {
                    causes.add("the process lacks CAP_NET_ADMIN (CapEff 0x" + Long.toHexString(capEff)
                            + "): TUNSETIFF cannot create TAP devices; run as root or grant cap_net_admin");
                }
            }
        } catch (IOException | NumberFormatException e) {
            causes.add("cannot read CapEff from /proc/self/status (" + e + ")");
        }
        return new Availability(nativeAccess, tun, netAdmin,
                causes.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", causes)));
    }
}
