package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
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
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client's line observer sees events and replies in arrival order (QEMU sends STOP before the
 * reply to {@code stop}), and pollEvent waits a bounded time for an event, against a scripted
 * server that answers like QEMU.
 */
@Timeout(value = 20, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpClientLineOrderTest {
    @TempDir
    Path dir;

    final ExecutorService serverThread = Executors.newSingleThreadExecutor(r -> new Thread(r, "scripted-qmp-server"));

    @AfterEach
    void tearDown() throws InterruptedException {
        serverThread.shutdownNow();
        assertTrue(serverThread.awaitTermination(5, TimeUnit.SECONDS), "the test server thread ends");
    }

    @Test
    void observerSeesEventsAndRepliesInArrivalOrderAndPollEventIsBounded() throws Exception {
        Path path = dir.resolve("qmp.sock");
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(path));
        Future<?> server = serverThread.submit(() -> {
            try (listener; SocketChannel ch = listener.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
                write(ch, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}");
                JsonNode cmd = QmpJson.parse(in.readLine());
                write(ch, "{\"return\": {}, \"id\": " + cmd.get("id") + "}");
                cmd = QmpJson.parse(in.readLine());
                write(ch, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}");
                write(ch, "{\"return\": {}, \"id\": " + cmd.get("id") + "}");
                write(ch, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 3}, \"event\": \"RESUME\"}");
                in.readLine(); // until the client closes
            }
            return null;
        });
        List<String> seen = new ArrayList<>();
        try (QmpClient client = QmpClient.connect(path, Duration.ofSeconds(5))) {
            client.observeLines(line -> seen.add(line.has("event") ? line.get("event").asText() : "reply"));
            client.negotiate();
            client.execute("stop", null);
            assertEquals("STOP", event(client.pollEvent(Duration.ofSeconds(5))), "an event queued while waiting for a reply comes first");
            assertEquals("RESUME", event(client.pollEvent(Duration.ofSeconds(5))), "then the one after the reply");
            long t0 = System.nanoTime();
            assertEquals("none", event(client.pollEvent(Duration.ofMillis(200))), "no more events: empty after the wait");
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(3), "pollEvent returns after its wait");
        }
        server.get(5, TimeUnit.SECONDS);
        assertEquals(List.of("reply", "STOP", "reply", "RESUME"), seen, "every line after the greeting, in arrival order");
    }

    private static String event(Optional<JsonNode> e) {
        return e.map(n -> n.path("event").asText()).orElse("none");
    }

    private static void write(SocketChannel ch, String line) throws java.io.IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
