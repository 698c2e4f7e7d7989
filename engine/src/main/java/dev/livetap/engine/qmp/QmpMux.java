package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * Many QMP connections driven concurrently by one thread, as a control plane managing many VMs
 * would: commands are written without waiting for earlier replies (on one connection the server
 * runs them one at a time in arrival order, docs/qmp.md; across connections they are
 * independent), replies and events are dispatched to callbacks as they arrive. Each connection
 * is a {@link QmpConnection} (the same framing, ids and matching as {@link QmpClient}). Every
 * wait ({@link #pump}) is bounded by a deadline; nothing polls: the thread sleeps in select(2).
 *
 * <p>Not thread-safe: every method, and every callback, runs on the thread that calls
 * {@link #pump} (the caller's thread is the event loop here, so callbacks need no hand-off).
 */
public final class QmpMux implements AutoCloseable {
    private static final int READ_BYTES = 64 * 1024;

    /** A wait of {@link #pump} that reached its deadline. */
    public static final class TimeoutException extends IOException {
        public TimeoutException(String what) {
            super(what);
        }
    }

    /** One QMP connection (greeting and capabilities negotiated by {@link #connectAll}). */
    public final class Conn {
        private final Path path;
        private final String name;
        private final SocketChannel ch;
        private final SelectionKey key;
        private final QmpConnection qmp;
        private final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();
        private boolean closed;

        private Conn(Path path, String name, SocketChannel ch, SelectionKey key) {
            this.path = path;
            this.name = name;
            this.ch = ch;
            this.key = key;
            this.qmp = new QmpConnection(name);
            qmp.onEvent(e -> events++);
            qmp.onUnmatchedReply(r -> fail("a reply to no command of this client: " + QmpJson.text(r)));
        }

        public Path path() {
            return path;
        }

        public String name() {
            return name;
        }

        /** Every event, in arrival order, on the pumping thread (replaces the previous listener). */
        public void onEvent(Consumer<QmpConnection.Received> listener) {
            qmp.onEvent(e -> {
                events++;
                listener.accept(e);
            });
        }

        /**
         * Writes the command now (what the socket buffer takes; the rest on WRITE readiness). A
         * connection that is closed or fails to write fails the next {@link #pump}.
         */
        public void send(String command, ObjectNode arguments, Consumer<QmpConnection.Reply> onReply) {
            if (closed) {
                return; // failure is set: the pump in progress or the next one throws it
            }
            out.add(qmp.encode(command, arguments, r -> {
                replies++;
                onReply.accept(r);
            }));
            try {
                flush();
            } catch (IOException e) {
                fail("send " + command + ": " + e.getMessage());
            }
        }

        /** Commands sent and not answered yet. */
        public int unanswered() {
            return qmp.unanswered();
        }

        public boolean closed() {
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
            buffer.flip();
            for (QmpConnection.Received m : qmp.decode(buffer, now)) {
                if (closed) {
                    return;
                }
                qmp.dispatch(m);
            }
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
    private long events;
    private long replies;
    private long selects;
    private boolean closedAll;

    public QmpMux() throws IOException {
        selector = Selector.open();
    }

    /** Events dispatched so far, over every connection. */
    public long events() {
        return events;
    }

    /** Replies dispatched so far, over every connection. */
    public long replies() {
        return replies;
    }

    /** select(2) calls so far (how often the pumping thread slept). */
    public long selects() {
        return selects;
    }

    /**
     * Connects to every path at once, then negotiates capabilities on all of them (pipelined);
     * returns the connections in the order of {@code paths}.
     */
    public List<Conn> connectAll(List<Path> paths, List<String> names, long timeoutMs) throws IOException {
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
    public void later(long delayNs, Runnable task) {
        timers.add(new Timer(System.nanoTime() + delayNs, ++timerSeq, task));
    }

    /**
     * Reads, writes and dispatches until {@code done} holds (checked after every batch of
     * readiness), failing with {@link TimeoutException} at {@code deadlineNs} and with an
     * {@link IOException} as soon as any connection is lost.
     */
    public void pump(long deadlineNs, BooleanSupplier done, String what) throws IOException {
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
                throw new TimeoutException("timed out waiting for " + what);
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
