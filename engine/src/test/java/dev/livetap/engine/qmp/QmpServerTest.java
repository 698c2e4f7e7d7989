package dev.livetap.engine.qmp;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.OwnedFd;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The QMP server's transport over an in-test fake of UnixSockets + Reactor. */
@Timeout(value = 20, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpServerTest {
    static final Path PATH = Path.of("/run/livetap/test-vm.qmp");
    static final Duration T = Duration.ofSeconds(5);

    FakeUnix os;
    RecordingVmBackend vm;
    QmpCommandRegistry registry;
    QmpServer server;
    final List<AutoCloseable> toClose = new ArrayList<>();
    final List<CompletableFuture<JsonNode>> slow = new java.util.concurrent.CopyOnWriteArrayList<>();
    final TestFds testFds = new TestFds();
    int openAtStart;

    @BeforeEach
    void setUp() {
        openAtStart = OwnedFd.openCount();
        os = new FakeUnix(4096);
        vm = new RecordingVmBackend();
        registry = new QmpCommandRegistry();
        QmpBuiltins.register(registry, QmpVersion.DEFAULT);
        QmpVmCommands.register(registry, vm);
        registry.register(QmpCommand.builder("x-slow").handler((a, f, s) -> {
            CompletableFuture<JsonNode> c = new CompletableFuture<>();
            slow.add(c);
            return c;
        }));
    }

    QmpServer start(int maxClients, int maxOutputBytes) {
        server = QmpServer.start(os, os, registry,
                new QmpServer.Config(PATH, maxClients, maxOutputBytes, QmpSession.Settings.defaults(QmpSessionTest.CLOCK)));
        return server;
    }

    QmpClient client() throws TimeoutException {
        QmpClient c = QmpClient.connect(os, os, PATH, T);
        toClose.add(c);
        return c;
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
        if (server != null) {
            server.close();
        }
        os.close();
        assertNull(os.failure, "no reactor handler may throw");
        OwnedFd.closeAll(vm.takenFds);
        assertEquals(openAtStart, OwnedFd.openCount(), "server close and client close leave no fd open");
    }

    @Test
    void servesAClientAndUnlinksThePathOnClose() throws Exception {
        start(16, 1 << 20);
        assertEquals(0600, os.modes.get(PATH), "the QMP socket is created with mode 0600");
        QmpClient c = client();
        assertEquals(QmpVersion.DEFAULT.toJson(), c.greeting().path("QMP").path("version"));
        QmpException before = assertThrows(QmpException.class, () -> c.execute("query-status", null));
        assertEquals(QmpErrorClass.CommandNotFound, before.errorClass());
        c.negotiate();
        assertEquals("running", c.execute("query-status", null).path("status").asText());
        QmpException e = assertThrows(QmpException.class, () -> c.execute("device_del", QmpJson.object().put("id", "inactive")));
        assertEquals(QmpErrorClass.DeviceNotActive, e.errorClass(), "error classes survive the transport");
        server.close();
        assertFalse(os.exists(PATH), "close() unlinks the socket path");
        IllegalStateException eof = assertThrows(IllegalStateException.class, () -> c.awaitEvent("NEVER"));
        assertTrue(eof.getMessage().contains("closed the connection"), eof.getMessage());
        assertTrue(c.atEof(), "clients see end of stream when the server closes");
    }

    @Test
    void concurrentClientsGetTheirOwnRepliesAndEventsOnlyAfterNegotiation() throws Exception {
        start(16, 1 << 20);
        QmpClient a = client();
        QmpClient b = client();
        QmpClient quiet = client();
        a.negotiate();
        b.negotiate();
        await().atMost(T).until(() -> server.clientCount() == 3);
        server.emit("MIGRATION", QmpJson.object().put("status", "setup"));
        JsonNode ev = a.awaitEvent("MIGRATION");
        assertEquals("setup", ev.path("data").path("status").asText());
        assertEquals(1_700_000_000L, ev.path("timestamp").path("seconds").asLong(), "timestamp from the injected clock");
        assertEquals("setup", b.awaitEvent("MIGRATION").path("data").path("status").asText());
        quiet.negotiate();
        assertTrue(quiet.drainEvents().isEmpty(), "an event emitted before negotiation is not delivered to that client");
        assertEquals("none", a.execute("query-migrate", null).path("status").asText());
        assertEquals("none", b.execute("query-migrate", null).path("status").asText());
    }

    @Test
    void clientsAboveTheLimitAreClosedWithoutGreeting() throws Exception {
        start(2, 1 << 20);
        client();
        client();
        await().atMost(T).until(() -> server.clientCount() == 2);
        OwnedFd third = os.connect(PATH);
        try {
            ByteBuffer buf = ByteBuffer.allocate(256);
            await().atMost(T).until(() -> os.recvmsg(third, buf, new ArrayList<>(), 4) == -1);
            assertEquals(0, buf.position(), "a refused client gets no greeting, only end of stream");
        } finally {
            third.close();
        }
        assertEquals(2, server.clientCount());
    }

    @Test
    void getfdPassesAnFdOverTheSocketAndDisconnectClosesIt() throws Exception {
        start(16, 1 << 20);
        int before = OwnedFd.openCount();
        QmpClient c = client();
        c.negotiate();
        OwnedFd mine = testFds.open();
        c.getfd("tap0", mine);
        mine.close(); // the server holds its own descriptor for the same file
        assertTrue(OwnedFd.openCount() > before + 1, "the server session holds the received fd");
        c.execute("netdev_add", QmpJson.object().put("type", "tap").put("id", "n0").put("fd", "tap0"));
        assertEquals(1, vm.takenFds.size(), "netdev_add fd=tap0 resolved through the session");
        OwnedFd.closeAll(vm.takenFds);
        vm.takenFds.clear();
        OwnedFd tap1 = testFds.open();
        c.getfd("tap1", tap1);
        tap1.close();
        c.close();
        toClose.remove(c);
        await().atMost(T).until(() -> server.clientCount() == 0);
        assertEquals(before, OwnedFd.openCount(), "a disconnected client's stored fds are closed by the server");
    }

    @Test
    void clientThatDisconnectsMidMessageWithFdsIsDroppedCleanly() throws Exception {
        start(16, 1 << 20);
        int before = OwnedFd.openCount();
        OwnedFd raw = os.connect(PATH);
        OwnedFd passed = testFds.open();
        os.sendmsg(raw, ByteBuffer.wrap("{\"execute\": \"getfd\", \"argum".getBytes(StandardCharsets.US_ASCII)), List.of(passed));
        passed.close();
        await().atMost(T).until(() -> server.clientCount() == 1);
        raw.close();
        await().atMost(T).until(() -> server.clientCount() == 0);
        await().atMost(T).until(() -> OwnedFd.openCount() == before);
        QmpClient c = client();
        c.negotiate();
        assertEquals("running", c.execute("query-status", null).path("status").asText(), "the server keeps serving");
    }

    @Test
    void splitAndMergedInputOverTheSocket() throws Exception {
        start(16, 1 << 20);
        OwnedFd raw = os.connect(PATH);
        try {
            byte[] req = ("{\"execute\": \"qmp_capabilities\", \"id\": 1}{\"execute\": \"stop\", \"id\": 2}\n"
                    + "{\"execute\": \"cont\", \"id\": 3}").getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < req.length; i += 7) {
                os.sendmsg(raw, ByteBuffer.wrap(req, i, Math.min(7, req.length - i)), List.of());
            }
            StringBuilder got = new StringBuilder();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            await().atMost(T).until(() -> {
                buf.clear();
                int n = os.recvmsg(raw, buf, new ArrayList<>(), 4);
                if (n > 0) {
                    got.append(new String(buf.array(), 0, n, StandardCharsets.US_ASCII));
                }
                return got.toString().split("\r\n", -1).length == 5;
            });
            String[] lines = got.toString().split("\r\n");
            assertEquals(4, lines.length, "greeting + 3 replies, each terminated by CRLF: " + got);
            for (int i = 1; i <= 3; i++) {
                assertEquals(i, QmpJson.parse(lines[i]).get("id").asInt());
            }
        } finally {
            raw.close();
        }
    }

    @Test
    void repliesQueueWhileTheClientDoesNotReadAndAllArriveInOrder() throws Exception {
        start(16, 1 << 20);
        QmpClient c = client();
        c.negotiate();
        for (int i = 0; i < 100; i++) {
            server.emit("X-TICK", QmpJson.object().put("n", i)); // far more than the 4 KiB socket buffer
        }
        for (int i = 0; i < 100; i++) {
            assertEquals(i, c.awaitEvent("X-TICK").path("data").path("n").asInt(), "events arrive complete and in order");
        }
    }

    @Test
    void aClientThatNeverReadsIsDisconnectedAtTheOutputLimit() throws Exception {
        start(16, 16 * 1024);
        QmpClient c = client();
        c.negotiate();
        for (int i = 0; i < 400; i++) {
            server.emit("X-TICK", QmpJson.object().put("n", i));
        }
        await().atMost(T).until(() -> server.clientCount() == 0);
    }

    @Test
    void slowCommandRepliesFromAnotherThreadInOrder() throws Exception {
        start(16, 1 << 20);
        OwnedFd raw = os.connect(PATH);
        try {
            os.sendmsg(raw, ByteBuffer.wrap(("{\"execute\": \"qmp_capabilities\"}{\"execute\": \"x-slow\", \"id\": \"s\"}"
                    + "{\"execute\": \"query-status\", \"id\": \"f\"}").getBytes(StandardCharsets.US_ASCII)), List.of());
            await().atMost(T).until(() -> slow.size() == 1);
            Thread actor = new Thread(() -> slow.get(0).complete(QmpJson.object().put("slow", true)), "fake-actor");
            actor.start();
            actor.join();
            StringBuilder got = new StringBuilder();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            await().atMost(T).until(() -> {
                buf.clear();
                int n = os.recvmsg(raw, buf, new ArrayList<>(), 4);
                if (n > 0) {
                    got.append(new String(buf.array(), 0, n, StandardCharsets.US_ASCII));
                }
                return got.toString().split("\r\n").length == 4;
            });
            String[] lines = got.toString().split("\r\n");
            assertEquals("s", QmpJson.parse(lines[2]).get("id").asText(), "the slow reply comes first");
            assertEquals("f", QmpJson.parse(lines[3]).get("id").asText());
        } finally {
            raw.close();
        }
    }

    @Test
    void staleSocketIsReplacedButLiveServersAndFilesAreNot() {
        os.staleSockets.add(PATH);
        start(16, 1 << 20);
        assertTrue(os.exists(PATH), "a stale socket is replaced by the new listener");
        IllegalStateException live = assertThrows(IllegalStateException.class, () -> QmpServer.start(os, os, registry,
                QmpServer.Config.defaults(PATH, QmpSessionTest.CLOCK)));
        assertTrue(live.getMessage().contains("already listening"), live.getMessage());
        assertEquals(0, server.clientCount(), "the live server's lock decides: no probe connection reaches it");
        Path file = Path.of("/run/livetap/not-a-socket");
        os.regularFiles.add(file);
        IllegalStateException notSocket = assertThrows(IllegalStateException.class, () -> QmpServer.start(os, os, registry,
                QmpServer.Config.defaults(file, QmpSessionTest.CLOCK)));
        assertTrue(notSocket.getMessage().contains("not a stale socket"), notSocket.getMessage());
        assertTrue(os.regularFiles.contains(file), "a non-socket path is left alone");
    }
}
