package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blocking client sleeps until the reactor signals (no polling): a reply wakes it at once, a
 * missing reply ends the wait at its deadline with a clear error, a server that closes the
 * connection fails the pending call at once; and client and server frame with the same code.
 */
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpClientWaitTest {
    private static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
            + "\"package\": \"\"}, \"capabilities\": []}}";

    @TempDir
    Path dir;

    final ExecutorService serverThread = Executors.newSingleThreadExecutor(r -> new Thread(r, "scripted-qmp-server"));

    @AfterEach
    void tearDown() throws InterruptedException {
        serverThread.shutdownNow();
        assertTrue(serverThread.awaitTermination(5, TimeUnit.SECONDS), "the test server thread ends");
    }

    /** What the scripted server does after the greeting and the qmp_capabilities reply. */
    interface Script {
        void run(SocketChannel ch, BufferedReader in) throws Exception;
    }

    private Future<?> serve(Path path, Script script) throws Exception {
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(path));
        return serverThread.submit(() -> {
            try (listener; SocketChannel ch = listener.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
                write(ch, GREETING);
                JsonNode cmd = QmpJson.parse(in.readLine());
                write(ch, "{\"return\": {}, \"id\": " + cmd.get("id") + "}");
                script.run(ch, in);
            }
            return null;
        });
    }

    @Test
    void aReplyWakesTheCallerAtOnceAndAWaitingCallerTakesNoCpu() throws Exception {
        Path path = dir.resolve("qmp.sock");
        AtomicLong repliedAt = new AtomicLong();
        Future<?> server = serve(path, (ch, in) -> {
            JsonNode cmd = QmpJson.parse(in.readLine());
            Thread.sleep(1_000);
            repliedAt.set(System.nanoTime());
            write(ch, "{\"return\": {\"status\": \"running\"}, \"id\": " + cmd.get("id") + "}");
            in.readLine(); // until the client closes
        });
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        try (QmpClient c = QmpClient.connect(path, Duration.ofSeconds(10))) {
            c.negotiate();
            long cpu0 = threads.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            JsonNode r = c.execute("query-status", null);
            long returnedAt = System.nanoTime();
            long cpuMs = (threads.getCurrentThreadCpuTime() - cpu0) / 1_000_000;
            assertEquals("running", r.path("status").asText());
            assertTrue((returnedAt - t0) / 1_000_000 >= 990, "the call waited for the reply");
            long lagMs = (returnedAt - repliedAt.get()) / 1_000_000;
            assertTrue(lagMs < 100, "the call returns as the reply arrives, not at a poll tick: " + lagMs + " ms after it");
            // a 200 µs parkNanos loop burns ~60 ms of CPU per second here; a sleeping waiter almost none
            assertTrue(cpuMs < 25, "the waiting caller slept instead of polling: " + cpuMs + " ms CPU in a 1 s wait");
        }
        server.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aMissingReplyEndsTheWaitAtItsDeadlineWithAClearError() throws Exception {
        Path path = dir.resolve("qmp.sock");
        Future<?> server = serve(path, (ch, in) -> {
            in.readLine(); // the command, never answered
            in.readLine(); // until the client closes
        });
        try (QmpClient c = QmpClient.connect(path, Duration.ofSeconds(10))) {
            c.negotiate();
            long t0 = System.nanoTime();
            TimeoutException e = assertThrows(TimeoutException.class,
                    () -> c.request("query-status", null, List.of(), Duration.ofMillis(200)));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms >= 190 && ms < 3_000, "waited " + ms + " ms for a 200 ms bound");
            assertTrue(e.getMessage().contains("timed out waiting for query-status"), e.getMessage());
            assertTrue(e.getMessage().contains("qmp.sock"), "the error names the connection: " + e.getMessage());
        }
        server.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aConnectionClosedByTheServerFailsThePendingCallAtOnce() throws Exception {
        Path path = dir.resolve("qmp.sock");
        Future<?> server = serve(path, (ch, in) -> {
            in.readLine(); // the command; then hang up without answering
            Thread.sleep(100);
        });
        try (QmpClient c = QmpClient.connect(path, Duration.ofSeconds(20))) {
            c.negotiate();
            long t0 = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.execute("query-status", null));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 3_000, "the call failed when the server hung up, not at its 20 s bound: " + ms + " ms");
            assertTrue(e.getMessage().contains("closed the connection"), e.getMessage());
            assertTrue(c.atEof());
        }
        server.get(5, TimeUnit.SECONDS);
    }

    @Test
    void closeFromAnotherThreadWakesAWaitingCaller() throws Exception {
        Path path = dir.resolve("qmp.sock");
        Future<?> server = serve(path, (ch, in) -> {
            in.readLine(); // until the client closes
        });
        QmpClient c = QmpClient.connect(path, Duration.ofSeconds(20));
        c.negotiate();
        Thread closer = new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            c.close();
        }, "test-closer");
        closer.start();
        long t0 = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> c.awaitEvent("NEVER"));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        closer.join(5_000);
        assertTrue(ms < 3_000, "close woke the waiter: " + ms + " ms");
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        server.get(5, TimeUnit.SECONDS);
    }

    @Test
    void heldReadingLeavesWhatTheServerSendsInTheSocketUntilTheNextWait() throws Exception {
        Path path = dir.resolve("qmp.sock");
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        Future<?> server = serve(path, (ch, in) -> {
            held.await(5, TimeUnit.SECONDS);
            for (String status : List.of("device", "completed")) {
                write(ch, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"" + status + "\"}, "
                        + "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}");
            }
            // then hang up: an unheld reader would see the end at once
        });
        try (QmpClient c = QmpClient.connect(path, Duration.ofSeconds(10))) {
            c.negotiate();
            c.holdReading();
            held.countDown();
            server.get(5, TimeUnit.SECONDS);
            Thread.sleep(200); // what must not happen: the reactor reading up to the server's end
            assertTrue(!c.atEof(), "nothing was read while held");
            assertEquals("device", c.pollEvent(Duration.ofSeconds(5)).orElseThrow().path("data").path("status").asText());
            assertEquals("completed", c.pollEvent(Duration.ofSeconds(5)).orElseThrow().path("data").path("status").asText());
            assertTrue(c.pollEvent(Duration.ofSeconds(5)).isEmpty(), "then the end");
            assertTrue(c.atEof());
        }
    }

    @Test
    void serverAndClientRejectAnOverlongMessageTheSameWay() throws Exception {
        int limit = 128;
        String overlong = "{\"execute\": \"query-status\", \"arguments\": {\"pad\": \"" + "x".repeat(200) + "\"}}";
        // the server's session
        List<JsonNode> out = new ArrayList<>();
        QmpCommandRegistry registry = QmpBuiltins.register(new QmpCommandRegistry(), QmpVersion.DEFAULT);
        QmpSession session = new QmpSession("qmp#limit", registry,
                new QmpSession.Settings(QmpVersion.DEFAULT, limit, 8, QmpSessionTest.CLOCK),
                m -> out.add(QmpJson.parse(new String(m, StandardCharsets.US_ASCII))), Runnable::run);
        session.start();
        session.receive(ByteBuffer.wrap(overlong.getBytes(StandardCharsets.US_ASCII)), List.of());
        String serverError = out.get(out.size() - 1).path("error").path("desc").asText();
        session.close();
        // the client's connection, given the same bytes from a server
        QmpConnection client = new QmpConnection("qmp-client limit", limit);
        client.dispatch(client.decode(ByteBuffer.wrap(GREETING.getBytes(StandardCharsets.US_ASCII)), 0).get(0));
        QmpConnection.ProtocolException e = assertThrows(QmpConnection.ProtocolException.class,
                () -> client.decode(ByteBuffer.wrap((overlong + "\r\n").getBytes(StandardCharsets.US_ASCII)), 0));
        assertEquals("JSON parse error, message longer than 128 bytes", serverError);
        assertEquals("qmp-client limit: " + serverError, e.getMessage(), "the client reports the server's framing error");
        // both resynchronise: the next message goes through
        assertEquals(1, client.decode(ByteBuffer.wrap("{\"return\": {}}\r\n".getBytes(StandardCharsets.US_ASCII)), 0).size());
    }

    private static void write(SocketChannel ch, String line) throws java.io.IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
