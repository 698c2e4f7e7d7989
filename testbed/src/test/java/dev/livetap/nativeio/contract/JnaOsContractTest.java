package dev.livetap.nativeio.contract;

import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.linux.TapBrokerMain;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.testbed.NetworkNamespace;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Assumptions;

/**
 * The contract on the real kernel. This JVM stays in the host namespace, so TAP queues are
 * opened by a child JVM inside a private namespace and handed over with SCM_RIGHTS: the queue
 * fds the tests then use are real kernel TAP queues, exactly as a migration target gets them.
 */
class JnaOsContractTest extends OsContractTest {
    private static final Duration CHILD_MAX = Duration.ofSeconds(30);
    private static NetworkNamespace netns;

    /**
     * The TAP feature probe (QEMU's trial TUNSETOFFLOAD) on the real kernel: UFO since Linux 4.17 (tun
     * accepts the bit again), USO since 6.2, UDP tunnel GSO since 6.17; the probe leaves no offload.
     */
    @org.junit.jupiter.api.Test
    void tapFeatureProbeFindsWhatThisKernelOffers() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues("ltprobe0", 1, dev.livetap.nativeio.TunFlags.TAP_VNET_MQ);
        try {
            dev.livetap.actors.tap.TapFeatures f = dev.livetap.actors.tap.TapFeatures.probe(JnaOs.instance().tun(), qs.get(0));
            String[] v = System.getProperty("os.version").split("[.-]");
            int kernel = Integer.parseInt(v[0]) * 1000 + Integer.parseInt(v[1]);
            System.out.println("TapFeatures on Linux " + System.getProperty("os.version") + ": " + f);
            org.junit.jupiter.api.Assertions.assertEquals(kernel >= 4017, f.hasUfo(), "has_ufo on " + System.getProperty("os.version"));
            org.junit.jupiter.api.Assertions.assertEquals(kernel >= 6002, f.hasUso(), "has_uso on " + System.getProperty("os.version"));
            org.junit.jupiter.api.Assertions.assertEquals(kernel >= 6017, f.hasTunnel(), "has_tunnel on " + System.getProperty("os.version"));
            org.junit.jupiter.api.Assertions.assertEquals(f, dev.livetap.actors.tap.TapFeatures.probe(JnaOs.instance().tun(), qs.get(0)),
                    "probing again finds the same: the first probe changed nothing it tests");
        } finally {
            qs.forEach(OwnedFd::close);
        }
    }

    /** /proc/self/fd at the start of each test: descriptor number → what it names. */
    private java.util.Map<String, String> fdsAtStart = java.util.Map.of();

    @org.junit.jupiter.api.BeforeEach
    void recordFdTargets() {
        fdsAtStart = fdTargets();
    }

    /** Class path jars the JVM opened meanwhile (a class loaded for the first time, by any thread). */
    @Override
    protected int runtimeFdsOpenedSinceStart() {
        return (int) openedSinceStart().values().stream().filter(t -> t.endsWith(".jar")).count();
    }

    @Override
    protected String describeFdsOpenedSinceStart() {
        return "; opened since the test began: " + openedSinceStart();
    }

    private java.util.Map<String, String> openedSinceStart() {
        java.util.Map<String, String> now = fdTargets();
        now.entrySet().removeIf(e -> e.getValue().equals(fdsAtStart.get(e.getKey())));
        return now;
    }

    private static java.util.Map<String, String> fdTargets() {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        java.io.File[] entries = new java.io.File("/proc/self/fd").listFiles();
        for (java.io.File e : entries == null ? new java.io.File[0] : entries) {
            try {
                out.put(e.getName(), java.nio.file.Files.readSymbolicLink(e.toPath()).toString());
            } catch (java.io.IOException gone) {
                // closed while listed (the listing's own descriptor, a finished child's pipe): not open now
            }
        }
        return out;
    }

    @Override
    protected Os createOs() {
        Os os = JnaOs.instance();
        os.reactor(); // its epoll fd and eventfd live for the whole process: open them before the fd snapshot
        return os;
    }

    @Override
    protected boolean processFdCountIsExact() {
        return false;
    }

    /** The whole table: unrelated descriptors close at any moment on a real JVM (a finished child's pipes). */
    @Override
    protected Object processFdsMark() {
        return FdCounter.snapshot();
    }

    @Override
    protected void assertProcessFds(Object mark, int expectedChange, String what) {
        ((FdCounter) mark).assertNoNewKernelFds(what);
    }

    @Override
    protected void assumeTapAvailable() {
        Os os = JnaOs.instance();
        Assumptions.assumeTrue(os.availability().tapCapable(),
                () -> "real TAP queues need /dev/net/tun and CAP_NET_ADMIN: " + os.availability().unavailabilityCause().orElse("?"));
    }

    @Override
    protected List<OwnedFd> openTapQueues(String name, int n, int flags) {
        Assumptions.assumeTrue(netns != null, () -> "no network namespace: " + NetworkNamespace.unavailabilityCause().orElse("?"));
        UnixSockets unix = JnaOs.instance().unix();
        Path dir;
        try {
            dir = Files.createTempDirectory("livetap-broker");
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        Path socketPath = dir.resolve("broker.sock");
        List<OwnedFd> received = new ArrayList<>();
        try (OwnedFd listener = unix.listen(socketPath, 0600);
             ChildJvm broker = ChildJvm.builder(TapBrokerMain.class).inNetns(netns)
                     .args(socketPath.toString(), name, String.valueOf(n), String.valueOf(flags)).start()) {
            long deadline = System.nanoTime() + CHILD_MAX.toNanos();
            OwnedFd conn = null;
            while (conn == null) {
                conn = unix.accept(listener);
                if (conn == null) {
                    if (System.nanoTime() > deadline || !broker.isAlive() && (conn = unix.accept(listener)) == null) {
                        throw new IllegalStateException("the TAP broker never connected: " + broker.describe());
                    }
                    pause();
                }
            }
            try (OwnedFd c = conn) {
                StringBuilder line = new StringBuilder();
                ByteBuffer one = ByteBuffer.allocate(1);
                while (line.length() == 0 || line.charAt(line.length() - 1) != '\n') {
                    one.clear();
                    int r = unix.recvmsg(c, one, received, UnixSockets.SCM_MAX_FD);
                    if (r < 0) {
                        throw new IllegalStateException("the TAP broker closed before its status line ended: '" + line + "' " + broker.describe());
                    }
                    if (r == 0) {
                        if (System.nanoTime() > deadline) {
                            throw new IllegalStateException("no status line from the TAP broker within 30 s: " + broker.describe());
                        }
                        pause();
                        continue;
                    }
                    line.append((char) (one.get(0) & 0xff));
                }
                String status = line.toString().trim();
                // Let the broker exit before the test goes on, so its spawn-time descriptors in this
                // JVM are gone before the test's own fd accounting.
                broker.waitFor(CHILD_MAX);
                if (status.startsWith("OK ")) {
                    return List.copyOf(received);
                }
                OwnedFd.closeAll(received);
                // ERR class errno message: rethrow as the exception the child saw
                String[] parts = status.split(" ", 4);
                int errno = Integer.parseInt(parts[2]);
                String message = parts.length > 3 ? parts[3] : "";
                if ("TooManyQueuesException".equals(parts[1])) {
                    throw new NativeException.TooManyQueuesException("ioctl(TUNSETIFF)", errno, message);
                }
                if ("NotPermittedException".equals(parts[1])) {
                    throw new NativeException.NotPermittedException("ioctl(TUNSETIFF)", errno, message);
                }
                throw new NativeException("ioctl(TUNSETIFF)", errno, message);
            }
        } catch (RuntimeException e) {
            OwnedFd.closeAll(received);
            throw e;
        } finally {
            JnaOs.instance().unix().unlinkSocket(socketPath);
            try {
                Files.deleteIfExists(dir);
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** Real time: polls the condition every millisecond until it holds or {@code max} passes. */
    @Override
    protected boolean drive(BooleanSupplier until, Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        while (!until.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            pause();
        }
        return true;
    }

    private static void pause() {
        try {
            Thread.sleep(1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Before the first fd snapshot: the namespace's reaper keeps a pipe open in this JVM while the namespace lives. */
    @BeforeAll
    static void createNamespace() {
        if (JnaOs.instance().availability().tapCapable() && NetworkNamespace.unavailabilityCause().isEmpty()) {
            netns = NetworkNamespace.create("contract");
        }
    }

    @AfterAll
    static void deleteNamespace() {
        if (netns != null) {
            netns.close();
            netns = null;
        }
    }
}
