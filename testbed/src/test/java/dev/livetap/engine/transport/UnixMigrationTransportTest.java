package dev.livetap.engine.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.testbed.HostCommand;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.nativeio.testing.RequiresRoot;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/** The real migration transport on the kernel: path sockets, stale-path rules, timeouts, SO_PEERCRED. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class UnixMigrationTransportTest {
    static final Duration T = Duration.ofSeconds(10);

    Os os;
    Path dir;
    ScheduledExecutorService scheduler;
    FdCounter fds;

    @BeforeEach
    void setUp() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        fds = FdCounter.snapshot();
        dir = Files.createTempDirectory("livetap-transport");
        scheduler = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterEach
    void tearDown() throws Exception {
        scheduler.shutdownNow();
        try (var l = Files.list(dir)) {
            for (Path p : l.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
        await().atMost(T).untilAsserted(() -> fds.assertNoLeak());
    }

    private UnixMigrationTransport transport(UnixMigrationTransport.Settings settings) {
        return new UnixMigrationTransport(os, settings, (delay, task) -> {
            ScheduledFuture<?> f = scheduler.schedule(task, delay.toMillis(), TimeUnit.MILLISECONDS);
            return () -> f.cancel(false);
        });
    }

    private UnixMigrationTransport transport() {
        return transport(UnixMigrationTransport.Settings.defaults(T));
    }

    @Test
    void acceptOneListensPrivatelyHandsOverOneChannelAndRemovesThePath() throws Exception {
        Path sock = dir.resolve("m.sock");
        MigrationUri.Unix uri = new MigrationUri.Unix(sock.toString());
        try (UnixMigrationTransport t = transport()) {
            CompletableFuture<FrameChannel> accepted = t.acceptOne(uri).toCompletableFuture();
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)),
                    "the incoming-migration socket is created with mode 0600");
            FrameChannel client = t.connect(uri).toCompletableFuture().get(5, TimeUnit.SECONDS);
            FrameChannel server = accepted.get(5, TimeUnit.SECONDS);
            assertFalse(Files.exists(sock), "the path is unlinked once the peer is accepted");
            assertEquals(0, t.pendingAccepts());
            CompletableFuture<Frame> got = new CompletableFuture<>();
            server.start(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame frame) {
                    got.complete(frame);
                }

                @Override
                public void onClosed(Throwable cause) {
                    got.completeExceptionally(new IllegalStateException("closed", cause));
                }
            });
            OwnedFd[] passenger = os.unix().socketPair();
            client.send("hello".getBytes(StandardCharsets.UTF_8), List.of(passenger[0])).toCompletableFuture()
                    .get(5, TimeUnit.SECONDS);
            try (Frame f = got.get(5, TimeUnit.SECONDS)) {
                assertEquals("hello", new String(f.payload(), StandardCharsets.UTF_8));
                assertEquals(1, f.fds().size(), "the fd rides with the frame (SCM_RIGHTS)");
            }
            passenger[0].close();
            passenger[1].close();
            client.close();
            server.close();
        }
    }

    @Test
    void aStaleSocketIsReplacedButALiveListenerAndARegularFileAreNot() throws Exception {
        Path stale = dir.resolve("stale.sock");
        os.unix().listen(stale, 0600).close(); // closing a listener leaves its path: a stale socket
        assertTrue(Files.exists(stale));
        try (UnixMigrationTransport t = transport()) {
            CompletableFuture<FrameChannel> a = t.acceptOne(new MigrationUri.Unix(stale.toString())).toCompletableFuture();
            assertFalse(a.isDone(), "a stale socket is replaced and the transport listens: " + a);

            CompletableFuture<FrameChannel> second = t.acceptOne(new MigrationUri.Unix(stale.toString())).toCompletableFuture();
            ExecutionException live = assertThrows(ExecutionException.class, () -> second.get(5, TimeUnit.SECONDS));
            assertTrue(live.getCause().getMessage().contains("already listening"), "a live listener is left alone: " + live);
            Path other = dir.resolve("other.sock");
            try (OwnedFd foreign = os.unix().listen(other, 0600)) {
                CompletableFuture<FrameChannel> fourth = t.acceptOne(new MigrationUri.Unix(other.toString())).toCompletableFuture();
                ExecutionException busy = assertThrows(ExecutionException.class, () -> fourth.get(5, TimeUnit.SECONDS));
                assertTrue(busy.getCause().getMessage().contains("already listening"), "another listener at the path is detected without connecting to it: " + busy.getCause());
                assertEquals(null, os.unix().accept(foreign), "no probe connection reached the live listener");
            }
            os.unix().unlinkSocket(other);

            Path file = dir.resolve("file.sock");
            Files.writeString(file, "not a socket");
            CompletableFuture<FrameChannel> third = t.acceptOne(new MigrationUri.Unix(file.toString())).toCompletableFuture();
            ExecutionException notSocket = assertThrows(ExecutionException.class, () -> third.get(5, TimeUnit.SECONDS));
            assertTrue(String.valueOf(notSocket.getCause().getMessage()).contains("not a socket")
                    || String.valueOf(notSocket.getCause().getMessage()).contains("not a stale socket"), "a non-socket path is refused: " + notSocket.getCause());
            assertEquals("not a socket", Files.readString(file), "a non-socket path is never removed or changed");

            a.cancel(false);
            await().atMost(T).until(() -> !Files.exists(stale));
            assertEquals(0, t.pendingAccepts(), "a cancelled wait stops listening and removes its path");
        }
    }

    @Test
    void withoutAPeerTheWaitTimesOutAndThePathIsRemoved() throws Exception {
        Path sock = dir.resolve("t.sock");
        try (UnixMigrationTransport t = transport(UnixMigrationTransport.Settings.defaults(Duration.ofMillis(300)))) {
            long start = System.nanoTime();
            CompletableFuture<FrameChannel> a = t.acceptOne(new MigrationUri.Unix(sock.toString())).toCompletableFuture();
            ExecutionException e = assertThrows(ExecutionException.class, () -> a.get(5, TimeUnit.SECONDS));
            assertInstanceOf(TimeoutException.class, e.getCause(), "the accept wait is bounded: " + e.getCause());
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(290), "not before the timeout");
            assertFalse(Files.exists(sock), "the socket path is removed when the wait ends");
        }
    }

    @Test
    void closingTheTransportEndsEveryWait() throws Exception {
        Path sock = dir.resolve("c.sock");
        UnixMigrationTransport t = transport();
        CompletableFuture<FrameChannel> a = t.acceptOne(new MigrationUri.Unix(sock.toString())).toCompletableFuture();
        t.close();
        assertThrows(ExecutionException.class, () -> a.get(5, TimeUnit.SECONDS));
        assertFalse(Files.exists(sock), "close removes the sockets it listened on");
    }

    /**
     * SO_PEERCRED: the socket is world-accessible (0666 in a 0755 directory) so that file
     * permissions do not do the refusing; a client running as nobody (setpriv, the system JDK in
     * single-file mode) is refused and logged with its uid, and the wait goes on until the right
     * peer connects.
     */
    @Test
    @RequiresRoot
    void aPeerWithAnotherUidIsRefusedLoggedAndTheRightPeerIsStillAccepted() throws Exception {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path sock = dir.resolve("peer.sock");
        Path probe = dir.resolve("PeerProbe.java");
        try (var in = UnixMigrationTransportTest.class.getResourceAsStream("/peer/PeerProbe.java")) {
            Files.copy(in, probe);
        }
        Files.setPosixFilePermissions(probe, PosixFilePermissions.fromString("rw-r--r--"));
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        Logger logger = (Logger) LoggerFactory.getLogger(UnixMigrationTransport.class);
        log.start();
        logger.addAppender(log);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        try (UnixMigrationTransport t = transport(UnixMigrationTransport.Settings.defaults(Duration.ofSeconds(50))
                .withSocketMode(0666))) {
            MigrationUri.Unix uri = new MigrationUri.Unix(sock.toString());
            CompletableFuture<FrameChannel> accepted = t.acceptOne(uri).toCompletableFuture();
            HostCommand.Result nobody = HostCommand.run(Duration.ofSeconds(40), List.of("setpriv", "--reuid=65534",
                    "--regid=65534", "--clear-groups", java, "-Xshare:off", probe.toString(), sock.toString()));
            assertTrue(nobody.output().contains("EOF"), "uid 65534 is connected and then closed: " + nobody.output());
            assertTrue(log.list.stream().anyMatch(e -> e.getFormattedMessage().contains("refused connection")
                    && e.getFormattedMessage().contains("uid 65534")), "the refusal is logged with the peer's uid: " + log.list);
            assertFalse(accepted.isDone(), "a refused peer does not end the wait");
            assertTrue(Files.exists(sock), "the listener keeps waiting for the right peer");
            FrameChannel client = t.connect(uri).toCompletableFuture().get(5, TimeUnit.SECONDS);
            FrameChannel server = accepted.get(5, TimeUnit.SECONDS);
            assertEquals(dev.livetap.nativeio.ProcessIdentity.uid(), server.peerCredentials().uid(),
                    "the accepted peer has this process's uid");
            client.close();
            server.close();
        } finally {
            logger.detachAppender(log);
        }
    }

    @Test
    void connectToNothingFailsTheStage() throws Exception {
        try (UnixMigrationTransport t = transport()) {
            CompletableFuture<FrameChannel> c = t.connect(new MigrationUri.Unix(dir.resolve("none.sock").toString()))
                    .toCompletableFuture();
            assertThrows(ExecutionException.class, () -> c.get(5, TimeUnit.SECONDS), "no socket: the stage fails");
        }
    }
}
