package dev.livetap.testbed.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * A blocking QMP client for the benchmarks: it sleeps in read(2) instead of polling, so the
 * driving process takes no CPU from the measured VMM processes while it waits for an event
 * (the engine's {@code QmpClient} polls every 200 µs). Every read is bounded by SO_TIMEOUT-like
 * behaviour through a watchdog: {@link #close()} from another thread unblocks it.
 */
final class Qmp implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Replies that never came (bounded waits that gave up), over every client of this JVM. */
    static final java.util.concurrent.atomic.AtomicInteger STALLS = new java.util.concurrent.atomic.AtomicInteger();
    final Path path;
    private SocketChannel ch;
    private BufferedReader in;
    private final ArrayDeque<JsonNode> events = new ArrayDeque<>();
    private long nextId;

    private Qmp(Path path) {
        this.path = path;
    }

    static Qmp connect(Path path) throws IOException {
        Qmp q = new Qmp(path);
        q.open();
        return q;
    }

    private void open() throws IOException {
        SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            c.connect(UnixDomainSocketAddress.of(path));
            ch = c;
            in = new BufferedReader(new InputStreamReader(Channels.newInputStream(c), StandardCharsets.UTF_8), 1 << 16);
            JsonNode greeting = line();
            if (!greeting.has("QMP")) {
                throw new IOException("not a QMP greeting: " + greeting);
            }
            execute("qmp_capabilities", null);
        } catch (IOException | RuntimeException e) {
            c.close();
            throw e;
        }
    }


    static ObjectNode args() {
        return JSON.createObjectNode();
    }

    /** A reply or event that did not come within the client's read timeout (the channel is closed). */
    static final class TimeoutException extends IOException {
        TimeoutException(String what) {
            super(what);
        }
    }

    private static final java.util.concurrent.ScheduledExecutorService TIMER =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "qmp-read-timeout");
                t.setDaemon(true);
                return t;
            });
    private long readTimeoutMs = 30_000;

    /** Every blocking read of this client gives up after {@code ms} (closing the connection). */
    Qmp readTimeout(long ms) {
        readTimeoutMs = ms;
        return this;
    }

    private JsonNode line() throws IOException {
        java.util.concurrent.atomic.AtomicBoolean fired = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.ScheduledFuture<?> dog = TIMER.schedule(() -> {
            fired.set(true);
            close();
        }, readTimeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
        String l;
        try {
            l = in.readLine();
        } catch (IOException e) {
            if (fired.get()) {
                throw new TimeoutException("no QMP message from " + path + " within " + readTimeoutMs + " ms");
            }
            throw e;
        } finally {
            dog.cancel(false);
        }
        if (l == null) {
            throw new IOException("QMP server closed the connection");
        }
        return JSON.readTree(l);
    }

    /** The command's return value; an error reply throws. */
    JsonNode execute(String command, ObjectNode arguments) throws IOException {
        long id = ++nextId;
        ObjectNode msg = JSON.createObjectNode().put("execute", command);
        if (arguments != null) {
            msg.set("arguments", arguments);
        }
        msg.put("id", id);
        byte[] bytes = (JSON.writeValueAsString(msg) + "\n").getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            ch.write(b);
        }
        while (true) {
            JsonNode r = line();
            if (r.has("event")) {
                events.add(r);
            } else if (r.path("id").asLong(-1) == id) {
                if (r.has("error")) {
                    throw new IOException(command + ": " + r.get("error").path("desc").asText());
                }
                return r.get("return");
            }
        }
    }

    /** Blocks until an event named {@code name} whose data matches {@code status} (null: any) arrives. */
    JsonNode awaitEvent(String name, String status) throws IOException {
        for (Iterator<JsonNode> it = events.iterator(); it.hasNext();) {
            JsonNode e = it.next();
            if (matches(e, name, status)) {
                it.remove();
                return e;
            }
        }
        while (true) {
            JsonNode r = line();
            if (r.has("event")) {
                if (matches(r, name, status)) {
                    return r;
                }
                events.add(r);
            }
        }
    }

    private static boolean matches(JsonNode e, String name, String status) {
        return name.equals(e.path("event").asText())
                && (status == null || status.equals(e.path("data").path("status").asText()));
    }

    void clearEvents() {
        events.clear();
    }

    @Override
    public void close() {
        try {
            ch.close();
        } catch (IOException ignored) {
            // closing
        }
    }
}
