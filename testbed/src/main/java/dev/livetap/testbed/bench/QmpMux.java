package dev.livetap.testbed.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * Many QMP connections driven concurrently by one thread, as a control plane managing many VMs
 * would: commands are written without waiting for earlier replies (on one connection the server
 * runs them one at a time in arrival order, docs/qmp.md; across connections they are
 * independent), replies and events are dispatched to callbacks as they arrive. Every wait
 * ({@link #pump}) is bounded by a deadline; nothing polls: the thread sleeps in select(2).
 *
 * <p>Not thread-safe: every method, and every callback, runs on the thread that calls
 * {@link #pump}.
 */
final class QmpMux implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int READ_BYTES = 64 * 1024;

    /** A message from the server and the {@link System#nanoTime()} at which its bytes were read. */
    record Received(JsonNode message, long ns) {
        String event() {
            return message.path("event").asText();
        }

        String status() {
            return message.path("data").path("status").asText();
        }
    }

    /** The answer to one command: {@code reply} holds {@code return} or {@code error}. */
    record Reply(String command, JsonNode reply, long sentNs, long receivedNs) {
        boolean ok() {
            return reply.has("return");
        }

        JsonNode value() {
            return reply.get("return");
        }

        String error() {
            return reply.path("error").path("desc").asText();
        }

        double rttMs() {
            return (receivedNs - sentNs) / 1e6;
        }
    }

    /** One QMP connection (greeting and capabilities negotiated by {@link #connectAll}). */
    final class Conn {
        final Path path;
        final String name;
        private final SocketChannel ch;
        private final SelectionKey key;
        private final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();
        private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
        private final Map<Long, Waiting> waiting = new HashMap<>();
        private long nextId;
        private boolean greeted;
        private boolean closed;
        /** Every event, in arrival order, unless {@link #onEvent} consumes them. */
        Consumer<Received> onEvent = e -> { };

        private Conn(Path path, String name, SocketChannel ch, SelectionKey key) {
            this.path = path;
            this.name = name;
            this.ch = ch;
            this.key = key;
        }

        /**
         * Writes the command now (what the socket buffer takes; the rest on WRITE readiness). A
         * connection that is closed or fails to write fails the next {@link #pump}.
         */
        void send(String command, ObjectNode arguments, Consumer<Reply> onReply) {
            if (closed) {
                return; // failure is set: the pump in progress or the next one throws it
            }
            long id = ++nextId;
            ObjectNode msg = JSON.createObjectNode().put("execute", command);
            if (arguments != null) {
                msg.set("arguments", arguments);
            }
            msg.put("id", id);
            ByteBuffer b = ByteBuffer.wrap((msg.toString() + "\n").getBytes(StandardCharsets.UTF_8));
            long sent = System.nanoTime();
            waiting.put(id, new Waiting(command, sent, onReply));
            out.add(b);
            try {
                flush();
            } catch (IOException e) {
                fail("send " + command + ": " + e.getMessage());
            }
        }

        /** Commands sent and not answered yet. */
        int unanswered() {
            return waiting.size();
        }

        boolean closed() {
            return closed;
        }

        private void flush() throws IOException {
            while (!out.isEmpty()) {
                ByteBuffer head = out.peek();
                ch.write(head);
                if (head.hasRemaining()) {
                    break;
                }
                out.poll();
            }
            key.interestOps(out.isEmpty() ? SelectionKey.OP_READ : SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }

        private void read(long now) throws IOException {
            buffer.clear();
            int n = ch.read(buffer);
            if (n < 0) {
                fail("the QMP server closed the connection");
                return;
            }
            byte[] a = buffer.array();
            int start = 0;
            for (int i = 0; i < n; i++) {
                if (a[i] == '\n') {
                    partial.write(a, start, i - start);
                    line(partial.toString(StandardCharsets.UTF_8), now);
                    partial.reset();
                    start = i + 1;
                }
            }
            partial.write(a, start, n - start);
            if (partial.size() > (8 << 20)) {
                fail("a QMP message longer than 8 MiB");
            }
        }

        private void line(String text, long now) throws IOException {
            if (text.isBlank()) {
                return;
            }
            JsonNode m = JSON.readTree(text);
            if (!greeted) {
                if (!m.has("QMP")) {
                    throw new IOException(name + ": not a QMP greeting: " + text);
                }
                greeted = true;
                return;
            }
            if (m.has("event")) {
                events++;
                onEvent.accept(new Received(m, now));
                return;
            }
            Waiting w = waiting.remove(m.path("id").asLong(-1));
            if (w == null) {
                throw new IOException(name + ": a reply to no command of this client: " + text);
            }
            replies++;
            w.onReply.accept(new Reply(w.command, m, w.sentNs, now));
        }

        private void fail(String why) {
            if (!closed) {
                closed = true;
                if (failure == null) {
                    failure = name + ": " + why;
                }
                key.cancel();
                try {
                    ch.close();
                } catch (IOException e) {
                    // the channel is going away either way; the failure above is what counts
                    failure = failure + " (close: " + e.getMessage() + ")";
                }
            }
        }
    }

    private record Waiting(String command, long sentNs, Consumer<Reply> onReply) {
    }

    private record Timer(long dueNs, long seq, Runnable task) {
    }

    private final Selector selector;
    private final ByteBuffer buffer = ByteBuffer.allocate(READ_BYTES);
    private final List<Conn> conns = new ArrayList<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>((a, b) -> a.dueNs != b.dueNs
            ? Long.compare(a.dueNs, b.dueNs) : Long.compare(a.seq, b.seq));
    private long timerSeq;
    /** The first connection failure (a closed connection fails the next {@link #pump}). */
    private String failure;
    long events;
    long replies;
    long selects;

    QmpMux() throws IOException {
        selector = Selector.open();
    }

    /**
     * Connects to every path at once, then negotiates capabilities on all of them (pipelined);
     * returns the connections in the order of {@code paths}.
     */
    List<Conn> connectAll(List<Path> paths, List<String> names, long timeoutMs) throws IOException {
        List<Conn> made = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++) {
            SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                c.connect(UnixDomainSocketAddress.of(paths.get(i))); // blocking connect: a local accept queue
                c.configureBlocking(false);
                SelectionKey k = c.register(selector, SelectionKey.OP_READ);
                Conn conn = new Conn(paths.get(i), names.get(i), c, k);
                k.attach(conn);
                conns.add(conn);
                made.add(conn);
            } catch (IOException | RuntimeException e) {
                c.close();
                throw new IOException("QMP connect to " + paths.get(i) + ": " + e.getMessage(), e);
            }
        }
        int[] negotiated = {0};
        List<String> refused = new ArrayList<>();
        for (Conn c : made) {
            c.send("qmp_capabilities", null, r -> {
                negotiated[0]++;
                if (!r.ok()) {
                    refused.add(c.name + ": " + r.error());
                }
            });
        }
        pump(System.nanoTime() + timeoutMs * 1_000_000L, () -> negotiated[0] == made.size(), "qmp_capabilities");
        if (!refused.isEmpty()) {
            throw new IOException("qmp_capabilities refused: " + refused.get(0));
        }
        return made;
    }

    /** Runs {@code task} on the pump thread once {@code delayNs} passed (while someone pumps). */
    void later(long delayNs, Runnable task) {
        timers.add(new Timer(System.nanoTime() + delayNs, ++timerSeq, task));
    }

    /**
     * Reads, writes and dispatches until {@code done} holds (checked after every batch of
     * readiness), failing with {@link Qmp.TimeoutException} at {@code deadlineNs} and with an
     * {@link IOException} as soon as any connection is lost.
     */
    void pump(long deadlineNs, BooleanSupplier done, String what) throws IOException {
        while (!done.getAsBoolean()) {
            if (failure != null) {
                throw new IOException("while waiting for " + what + ": " + failure);
            }
            long now = System.nanoTime();
            while (!timers.isEmpty() && timers.peek().dueNs <= now) {
                timers.poll().task.run();
            }
            if (done.getAsBoolean()) {
                return;
            }
            if (now >= deadlineNs) {
                throw new Qmp.TimeoutException("timed out waiting for " + what);
            }
            long waitNs = deadlineNs - now;
            if (!timers.isEmpty()) {
                waitNs = Math.min(waitNs, timers.peek().dueNs - now);
            }
            selects++;
            selector.select(Math.max(1, (waitNs + 999_999) / 1_000_000));
            long readAt = System.nanoTime();
            for (SelectionKey k : selector.selectedKeys()) {
                Conn c = (Conn) k.attachment();
                if (c.closed) {
                    continue;
                }
                try {
                    if (k.isValid() && k.isWritable()) {
                        c.flush();
                    }
                    if (k.isValid() && k.isReadable()) {
                        c.read(readAt);
                    }
                } catch (IOException e) {
                    c.fail(e.getMessage() == null ? e.toString() : e.getMessage());
                }
            }
            selector.selectedKeys().clear();
        }
    }

    private boolean closedAll;

    /** Closes every connection and the selector (idempotent); the first close failure is thrown. */
    @Override
    public void close() throws IOException {
        if (closedAll) {
            return;
        }
        closedAll = true;
        IOException first = null;
        for (Conn c : conns) {
            try {
                c.ch.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        try {
            selector.close();
        } catch (IOException e) {
            if (first == null) {
                first = e;
            } else {
                first.addSuppressed(e);
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
