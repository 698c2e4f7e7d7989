package dev.livetap.engine.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.vmm.VmmProcess;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PathIdentity;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresRoot;
import java.util.List;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Who owns a socket path: the process holding {@code PATH.lock}, in whatever network namespace it
 * runs (/proc/net/unix lists only the caller's). Real kernel, and the in-memory OS for the same rules.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SocketPathOwnershipTest {
    private Path dir;

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory("lt-own");
    }

    @AfterEach
    void tearDown() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Test
    @RequiresRoot
    void aSecondVmmInAnotherNamespaceIsRefusedAndTheLiveSocketKeepsItsInodeAndAnswers() throws Exception {
        UnixSockets unix = JnaOs.instance().unix();
        try (NetworkNamespace ns1 = NetworkNamespace.create(); NetworkNamespace ns2 = NetworkNamespace.create();
                VmmProcess first = VmmProcess.start(VmmProcess.Options.of(dir, "owner").withPrefix(ns1.wrap(List.of())).withArgs(List.of("--no-warm-up"))).connect()) {
            PathIdentity before = unix.identity(first.qmpSocket()).orElseThrow();
            try (VmmProcess second = VmmProcess.start(VmmProcess.Options.of(dir, "intruder").withQmp(first.qmpSocket())
                    .withPrefix(ns2.wrap(List.of())).withArgs(List.of("--no-warm-up")))) {
                int exit = second.awaitExit(Duration.ofSeconds(60)).orElse(-1);
                assertEquals(1, exit, "a VMM whose socket path a live VMM owns fails to start: " + second.describe());
                String err = second.stderr();
                assertTrue(err.contains("refusing to listen on " + first.qmpSocket()) && err.contains(first.qmpSocket() + ".lock"),
                        "the error names the path and its lock: " + err);
                assertFalse(second.process().stdout().contains("READY"), "the refused VMM never listened: " + second.process().stdout());
            }
            assertEquals(before, unix.identity(first.qmpSocket()).orElseThrow(), "the live socket keeps its inode");
            assertEquals("running", first.execute("query-status").path("status").asText(),
                    "the first VMM still answers QMP on its socket");
            first.execute("quit");
            await(() -> unix.identity(first.qmpSocket()).isEmpty(), "the owner removes its socket when it quits");
            // the owner removes the socket, then the lock file: wait for both (a CI run read in between)
            await(() -> !Files.exists(SocketPaths.lockFileOf(first.qmpSocket())), "and its lock file");
        }
    }

    @Test
    void aLeftoverSocketAndLockFileWithNoLiveOwnerAreReplaced() throws Exception {
        UnixSockets unix = JnaOs.instance().unix();
        Path path = dir.resolve("stale.sock");
        unix.listen(path, 0600).close(); // a listener that died: its path stays
        Files.writeString(SocketPaths.lockFileOf(path), ""); // and its lock file, unlocked
        try (SocketPaths.BoundSocket bound = SocketPaths.listenExclusive(unix, path, 0600)) {
            // (the inode number may be the leftover's: the file system reuses a freed one at once)
            assertEquals(bound.identity(), unix.identity(path).orElseThrow());
            try (OwnedFd client = unix.connect(path); OwnedFd accepted = acceptWithin(unix, bound.listener())) {
                assertTrue(accepted.fd() >= 0, "the leftover (which refused connections) was replaced by a listening socket");
            }
            IllegalStateException again = assertThrows(IllegalStateException.class,
                    () -> SocketPaths.listenExclusive(unix, path, 0600), "a second bind in the same process is refused too");
            assertTrue(again.getMessage().contains("refusing to listen on " + path), again.getMessage());
        }
        assertFalse(Files.exists(path), "close removes the socket it bound");
        assertFalse(Files.exists(SocketPaths.lockFileOf(path)), "and the lock file");
    }

    @Test
    void closingLeavesAPathThatSomeoneElseBoundSince() throws Exception {
        UnixSockets unix = JnaOs.instance().unix();
        Path path = dir.resolve("moved.sock");
        SocketPaths.BoundSocket bound = SocketPaths.listenExclusive(unix, path, 0600);
        OwnedFd intruder;
        try {
            unix.unlinkSocket(path); // a careless process removes the path and binds its own socket there
            intruder = unix.listen(path, 0600);
        } finally {
            bound.close();
        }
        try (intruder) {
            PathIdentity theirs = unix.identity(path).orElseThrow();
            assertNotEquals(bound.identity(), theirs);
            assertTrue(Files.exists(path), "closing does not unlink a path that names someone else's socket now");
            try (OwnedFd client = unix.connect(path); OwnedFd accepted = acceptWithin(unix, intruder)) {
                assertTrue(accepted.fd() >= 0, "their socket still accepts");
            }
        }
    }

    @Test
    void theListenerAndTheLockAreCloseOnExec() throws Exception {
        UnixSockets unix = JnaOs.instance().unix();
        Path path = dir.resolve("cloexec.sock");
        try (OwnedFd lock = unix.tryLock(SocketPaths.lockFileOf(path)).orElseThrow()) {
            assertTrue(closeOnExec(lock), "the lock fd is O_CLOEXEC: no child inherits the lock");
            assertTrue(unix.tryLock(SocketPaths.lockFileOf(path)).isEmpty(), "flock is per open file: a second open cannot take it");
        }
        try (SocketPaths.BoundSocket bound = SocketPaths.listenExclusive(unix, path, 0600)) {
            assertTrue(closeOnExec(bound.listener()), "the listening socket is SOCK_CLOEXEC");
        }
    }

    @Test
    void theInMemoryOsFollowsTheSameRules() {
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs a = kernel.newProcess("a");
        InMemoryOs b = kernel.newProcess("b");
        Path path = Path.of("/run/livetap/vm.qmp");
        // process a owns the path as listenExclusive would, and then dies: its descriptors close, the paths stay
        OwnedFd lock = a.unix().tryLock(SocketPaths.lockFileOf(path)).orElseThrow();
        OwnedFd listener = a.unix().listen(path, 0600);
        PathIdentity owned = a.unix().identity(path).orElseThrow();
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> SocketPaths.listenExclusive(b.unix(), path, 0600));
        assertTrue(refused.getMessage().contains("already listening"), refused.getMessage());
        assertEquals(owned, b.unix().identity(path).orElseThrow(), "the refused process changed nothing");
        listener.close();
        lock.close();
        assertTrue(b.unix().identity(path).isPresent(), "a dead owner's socket is a leftover");
        try (SocketPaths.BoundSocket replaced = SocketPaths.listenExclusive(b.unix(), path, 0600)) {
            assertNotEquals(owned, replaced.identity(), "the leftover is replaced once its lock is free");
        }
        assertTrue(b.unix().identity(path).isEmpty());
    }

    private static OwnedFd acceptWithin(UnixSockets unix, OwnedFd listener) throws InterruptedException {
        for (int i = 0; i < 250; i++) {
            OwnedFd fd = unix.accept(listener);
            if (fd != null) {
                return fd;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no connection accepted within 5 s");
    }

    private static boolean closeOnExec(OwnedFd fd) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd.fd()))) {
            if (line.startsWith("flags:")) {
                return (Long.parseLong(line.substring(6).trim(), 8) & 02000000) != 0;
            }
        }
        throw new AssertionError("no flags in /proc/self/fdinfo/" + fd.fd());
    }

    private static void await(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what);
            }
            Thread.sleep(20);
        }
    }
}
