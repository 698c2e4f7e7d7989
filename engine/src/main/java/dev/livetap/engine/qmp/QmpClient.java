package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.UnixSockets;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * A small blocking QMP client for the command line and tests: connect, read the greeting,
 * negotiate, execute commands one at a time, collect events. Not thread-safe.
 *
 * <p>Two transports: the JDK's UNIX-domain {@link SocketChannel} ({@link #connect(Path, Duration)};
 * cannot pass fds), or livetap's {@link UnixSockets} with a polling loop
 * ({@link #connect(UnixSockets, Path, Duration)}; {@link #getfd} passes fds with SCM_RIGHTS).
 */
public final class QmpClient implements AutoCloseable {
    private interface Link extends AutoCloseable {
        /** Writes all of {@code data} with {@code fds} on its first byte, or fails by the deadline. */
        void write(ByteBuffer data, List<OwnedFd> fds, long deadlineNanos) throws TimeoutException;

        /** Reads some bytes; -1 at end of stream; waits until the deadline. */
        int read(ByteBuffer into, long deadlineNanos) throws TimeoutException;

        @Override
        void close();
    }

    private final Link link;
    private final Duration timeout;
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private final ArrayDeque<JsonNode> lines = new ArrayDeque<>();
    private final List<JsonNode> events = new ArrayList<>();
    private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    private final JsonNode greeting;
    private long nextId;
    private boolean eof;
    private Consumer<JsonNode> lineObserver = line -> { };

    private QmpClient(Link link, Duration timeout) throws TimeoutException {
        this.link = link;
        this.timeout = timeout;
        JsonNode first;
        try {
            first = nextLine(deadline());
        } catch (RuntimeException | TimeoutException e) {
            link.close();
            throw e;
        }
        if (!first.has("QMP")) {
            link.close();
            throw new IllegalStateException("not a QMP greeting: " + first);
        }
        this.greeting = first;
    }

    /** Connects with the JDK's UNIX-domain socket channel (no fd passing). */
    public static QmpClient connect(Path path, Duration timeout) throws IOException, TimeoutException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(path));
            ch.configureBlocking(false);
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        return new QmpClient(new JdkLink(ch), timeout);
    }

    /** Connects through livetap's native sockets, so that {@link #getfd} can pass fds. */
    public static QmpClient connect(UnixSockets unix, Path path, Duration timeout) throws TimeoutException {
        return new QmpClient(new NativeLink(unix, unix.connect(path)), timeout);
    }

    public JsonNode greeting() {
        return greeting;
    }

    /** qmp_capabilities; fails unless it returns {}. */
    public void negotiate() throws TimeoutException {
        execute("qmp_capabilities", null);
    }

    /** Sends a command and waits for its reply; returns the whole reply ({"return"} or {"error"}). */
    public ObjectNode request(String command, ObjectNode args, List<OwnedFd> fds) throws TimeoutException {
        long deadline = deadline();
        long id = ++nextId;
        ObjectNode msg = QmpJson.object();
        msg.put("execute", command);
        if (args != null) {
            msg.set("arguments", args);
        }
        msg.put("id", id);
        link.write(ByteBuffer.wrap(QmpJson.line(msg)), fds, deadline);
        while (true) {
            JsonNode line = nextLine(deadline);
            if (line.has("event")) {
                events.add(line);
            } else if (line.path("id").asLong(-1) == id && line instanceof ObjectNode reply) {
                return reply;
            }
            // a reply without our id (e.g. to a parse error) is not ours to report: skip it
        }
    }

    /** Executes a command: its {@code return} value, or a {@link QmpException} with the error. */
    public JsonNode execute(String command, ObjectNode args) throws TimeoutException {
        return unwrap(request(command, args, List.of()));
    }

    /** getfd with {@code fd} attached by SCM_RIGHTS (native transport only); the caller keeps its fd. */
    public void getfd(String fdname, OwnedFd fd) throws TimeoutException {
        unwrap(request("getfd", QmpJson.object().put("fdname", fdname), List.of(fd)));
    }

    /** Events received so far (while waiting for replies or in {@link #awaitEvent}), then forgotten. */
    public List<JsonNode> drainEvents() {
        List<JsonNode> l = List.copyOf(events);
        events.clear();
        return l;
    }

    /** Waits for the next event named {@code name}; earlier events stay available. */
    public JsonNode awaitEvent(String name) throws TimeoutException {
        long deadline = deadline();
        while (true) {
            for (int j = 0; j < events.size(); j++) {
                if (name.equals(events.get(j).path("event").asText())) {
                    return events.remove(j);
                }
            }
            JsonNode line = nextLine(deadline);
            if (line.has("event")) {
                events.add(line);
            }
        }
    }

    /**
     * Waits up to {@code wait} for the next event (one already received comes first); empty if none
     * arrives in time or the server closed the connection.
     */
    public Optional<JsonNode> pollEvent(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (events.isEmpty()) {
            JsonNode line;
            try {
                line = nextLine(deadline);
            } catch (TimeoutException | IllegalStateException quietOrClosed) {
                return Optional.empty();
            }
            if (line.has("event")) {
                events.add(line);
            }
        }
        return Optional.of(events.remove(0));
    }

    /**
     * Sees every line the server sends after the greeting, events and replies, in arrival order (the
     * differential suite compares the order of events relative to replies). One observer; called on
     * the calling thread.
     */
    public void observeLines(Consumer<JsonNode> observer) {
        this.lineObserver = observer;
    }

    /** True once the server closed the connection. */
    public boolean atEof() {
        return eof;
    }

    @Override
    public void close() {
        link.close();
    }

    private static JsonNode unwrap(ObjectNode reply) {
        JsonNode error = reply.get("error");
        if (error != null) {
            QmpErrorClass cls;
            try {
                cls = QmpErrorClass.valueOf(error.path("class").asText());
            } catch (IllegalArgumentException unknown) {
                cls = QmpErrorClass.GenericError;
            }
            throw new QmpException(cls, error.path("desc").asText());
        }
        return reply.get("return");
    }

    private long deadline() {
        return System.nanoTime() + timeout.toNanos();
    }

    private JsonNode nextLine(long deadline) throws TimeoutException {
        while (lines.isEmpty()) {
            if (eof) {
                throw new IllegalStateException("QMP server closed the connection");
            }
            buffer.clear();
            int n = link.read(buffer, deadline);
            if (n < 0) {
                eof = true;
                continue;
            }
            for (int i = 0; i < n; i++) {
                byte b = buffer.get(i);
                if (b == '\n') {
                    String text = partial.toString(StandardCharsets.UTF_8).trim();
                    partial.reset();
                    if (!text.isEmpty()) {
                        JsonNode parsed = QmpJson.parse(text);
                        lines.add(parsed);
                        if (greeting != null) {
                            lineObserver.accept(parsed);
                        }
                    }
                } else {
                    partial.write(b);
                }
            }
        }
        return lines.poll();
    }

    private static void pause(long deadline, String what) throws TimeoutException {
        if (System.nanoTime() - deadline > 0) {
            throw new TimeoutException("QMP: timed out waiting to " + what);
        }
        LockSupport.parkNanos(200_000);
    }

    private static final class JdkLink implements Link {
        private final SocketChannel ch;

        JdkLink(SocketChannel ch) {
            this.ch = ch;
        }

        @Override
        public void write(ByteBuffer data, List<OwnedFd> fds, long deadline) throws TimeoutException {
            if (!fds.isEmpty()) {
                throw new UnsupportedOperationException("the JDK transport cannot pass fds; connect through UnixSockets");
            }
            try {
                while (data.hasRemaining()) {
                    if (ch.write(data) == 0) {
                        pause(deadline, "send");
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public int read(ByteBuffer into, long deadline) throws TimeoutException {
            try {
                while (true) {
                    int n = ch.read(into);
                    if (n != 0) {
                        return n;
                    }
                    pause(deadline, "receive");
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void close() {
            try {
                ch.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static final class NativeLink implements Link {
        private final UnixSockets unix;
        private final OwnedFd fd;

        NativeLink(UnixSockets unix, OwnedFd fd) {
            this.unix = unix;
            this.fd = fd;
        }

        @Override
        public void write(ByteBuffer data, List<OwnedFd> fds, long deadline) throws TimeoutException {
            List<OwnedFd> attach = fds;
            while (data.hasRemaining()) {
                if (unix.sendmsg(fd, data, attach) == 0) {
                    pause(deadline, "send");
                } else {
                    attach = List.of(); // fds ride on the first byte only
                }
            }
        }

        @Override
        public int read(ByteBuffer into, long deadline) throws TimeoutException {
            while (true) {
                List<OwnedFd> fds = new ArrayList<>();
                int n = unix.recvmsg(fd, into, fds, 4);
                OwnedFd.closeAll(fds); // a QMP server sends no fds
                if (n != 0) {
                    return n;
                }
                pause(deadline, "receive");
            }
        }

        @Override
        public void close() {
            fd.close();
        }
    }
}
