package dev.livetap.engine.qmp;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.livetap.engine.testing.RawQmp;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Issue 14 item 9: 16 clients that connect and say nothing must not lock every other client out.
 * A client that has not negotiated within the server's negotiation timeout is dropped; a
 * negotiated client that only listens stays; a refused connection logs one WARN without a trace.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpIdleClientTest {
    static final Duration T = Duration.ofSeconds(10);
    static final Duration NEGOTIATION = Duration.ofSeconds(1);

    Os os;
    Path dir;
    Path sock;
    QmpServer server;
    FdCounter fds;
    ListAppender<ILoggingEvent> log = new ListAppender<>();
    Logger serverLog = (Logger) LoggerFactory.getLogger(QmpServer.class);
    Level levelBefore;
    List<AutoCloseable> clients = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        fds = FdCounter.snapshot();
        dir = Files.createTempDirectory("livetap-qmp-idle");
        sock = dir.resolve("vm.qmp");
        levelBefore = serverLog.getLevel();
        serverLog.setLevel(Level.DEBUG);
        log.start();
        serverLog.addAppender(log);
        QmpCommandRegistry registry = QmpBuiltins.register(new QmpCommandRegistry(), QmpVersion.DEFAULT);
        server = QmpServer.start(os, registry, QmpServer.Config.defaults(sock, Clock.systemUTC())
                .withNegotiationTimeout(NEGOTIATION));
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : clients) {
            c.close();
        }
        server.close();
        serverLog.detachAppender(log);
        serverLog.setLevel(levelBefore);
        Files.deleteIfExists(sock);
        Files.deleteIfExists(dir);
        await().atMost(T).untilAsserted(() -> fds.assertNoLeak());
    }

    private SocketChannel silent() throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        clients.add(ch);
        ch.connect(UnixDomainSocketAddress.of(sock));
        ch.configureBlocking(false);
        return ch;
    }

    /** Reads and discards until the server closes (true) or {@code within} passes (false). */
    private static boolean closedByServer(SocketChannel ch, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        ByteBuffer b = ByteBuffer.allocate(4096);
        while (System.nanoTime() < deadline) {
            b.clear();
            int n;
            try {
                n = ch.read(b);
            } catch (IOException reset) {
                return true;
            }
            if (n < 0) {
                return true;
            }
            if (n == 0) {
                Thread.sleep(5);
            }
        }
        return false;
    }

    @Test
    void silentClientsAreDroppedAfterTheNegotiationTimeoutAndListenersStay() throws Exception {
        RawQmp listener = new RawQmp(sock, T);
        clients.add(listener);
        listener.next(); // greeting
        listener.send("{\"execute\": \"qmp_capabilities\"}\n");
        assertTrue(listener.nextReply().has("return"), "the listener negotiates");
        List<SocketChannel> idle = new ArrayList<>();
        for (int i = 0; i < 15; i++) {
            idle.add(silent());
        }
        await().atMost(T).until(() -> server.clientCount() == 16);

        SocketChannel refused = silent();
        assertTrue(closedByServer(refused, Duration.ofSeconds(2)), "the 17th client is refused while 16 are connected");
        List<ILoggingEvent> warns = log.list.stream().filter(e -> e.getLevel() == Level.WARN).toList();
        assertEquals(1, warns.size(), "one WARN line for the refusal: " + warns);
        assertTrue(warns.get(0).getFormattedMessage().contains("refusing a client"), warns.get(0).getFormattedMessage());
        assertEquals(null, warns.get(0).getThrowableProxy(), "the refusal logs no stack trace");

        for (SocketChannel ch : idle) {
            assertTrue(closedByServer(ch, NEGOTIATION.plus(T)), "a client silent past the negotiation timeout is dropped");
        }
        await().atMost(T).until(() -> server.clientCount() == 1);
        assertTrue(log.list.stream().anyMatch(e -> e.getLevel() == Level.DEBUG
                && e.getFormattedMessage().contains("no qmp_capabilities within") && e.getThrowableProxy() == null),
                "each drop is one DEBUG line without a trace");

        try (RawQmp late = new RawQmp(sock, T)) {
            assertTrue(late.next().has("QMP"), "after the timeout a new client gets in");
            late.send("{\"execute\": \"qmp_capabilities\"}\n");
            assertTrue(late.nextReply().has("return"));
        }
        Thread.sleep(NEGOTIATION.toMillis() + 500);
        listener.send("{\"execute\": \"query-version\"}\n");
        assertTrue(listener.nextReply().path("return").has("qemu"), "a negotiated client that only listens stays");
        assertFalse(log.list.stream().anyMatch(e -> e.getThrowableProxy() != null), "no stack trace: " + log.list);
    }

    @Test
    void aClientThatNegotiatesInTimeIsNotDropped() throws Exception {
        try (RawQmp c = new RawQmp(sock, T)) {
            c.next();
            Thread.sleep(NEGOTIATION.toMillis() / 2);
            c.send("{\"execute\": \"qmp_capabilities\"}\n");
            assertTrue(c.nextReply().has("return"));
            Thread.sleep(NEGOTIATION.toMillis() + 500);
            c.send("{\"execute\": \"query-version\"}\n");
            assertTrue(c.nextReply().has("return"), "still connected well after the negotiation timeout");
        }
    }
}
