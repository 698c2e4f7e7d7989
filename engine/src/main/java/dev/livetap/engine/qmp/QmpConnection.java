package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The client side of one QMP connection, independent of transport and threads: framing (the
 * same {@link QmpInputSplitter} the server uses, with the same limits and errors), the greeting,
 * request ids, replies matched to their command by id, events in arrival order. The blocking
 * {@link QmpClient} and the multiplexed {@link QmpMux} are both built on it.
 *
 * <p>Not thread-safe, with one exception: {@link #decode} touches only the framer, so a reader
 * thread may decode while the owning thread encodes and dispatches.
 */
public final class QmpConnection {
    /** The longest message a client accepts (QEMU's replies are far smaller; query-qmp-schema is ~200 KiB). */
    public static final int MAX_MESSAGE_BYTES = 8 << 20;

    /** A message from the server and the {@link System#nanoTime()} at which its bytes were read. */
    public record Received(JsonNode message, long ns) {
        public boolean isEvent() {
            return message.has("event");
        }

        public String event() {
            return message.path("event").asText();
        }

        public String status() {
            return message.path("data").path("status").asText();
        }
    }

    /** The answer to one command: {@code reply} holds {@code return} or {@code error}. */
    public record Reply(String command, ObjectNode reply, long sentNs, long receivedNs) {
        public boolean ok() {
            return reply.has("return");
        }

        public JsonNode value() {
            return reply.get("return");
        }

        public String error() {
            return reply.path("error").path("desc").asText();
        }

        public double rttMs() {
            return (receivedNs - sentNs) / 1e6;
        }
    }

    /** The server broke the protocol (bad framing, not JSON, no greeting): the connection is unusable. */
    public static final class ProtocolException extends IOException {
        public ProtocolException(String message) {
            super(message);
        }
    }

    private record Pending(String command, long sentNs, Consumer<Reply> onReply) {
    }

    private final String name;
    private final QmpInputSplitter framer;
    private final Map<Long, Pending> pending = new HashMap<>();
    private JsonNode greeting;
    private long nextId;
    private Consumer<JsonNode> lineObserver = line -> { };
    private Consumer<Received> eventListener = event -> { };
    private Consumer<JsonNode> unmatchedReply = reply -> { };

    public QmpConnection(String name) {
        this(name, MAX_MESSAGE_BYTES);
    }

    public QmpConnection(String name, int maxMessageBytes) {
        this.name = name;
        this.framer = new QmpInputSplitter(maxMessageBytes);
    }

    public String name() {
        return name;
    }

    /** The server's greeting; null until it was dispatched. */
    public JsonNode greeting() {
        return greeting;
    }

    /** Sees every message after the greeting, events and replies, in arrival order, before it is dispatched. */
    public void observeLines(Consumer<JsonNode> observer) {
        this.lineObserver = observer;
    }

    /** Receives every event, in arrival order (on the dispatching thread). */
    public void onEvent(Consumer<Received> listener) {
        this.eventListener = listener;
    }

    /** Receives replies that match no command in flight (QMP answers a parse error without an id); ignored by default. */
    public void onUnmatchedReply(Consumer<JsonNode> handler) {
        this.unmatchedReply = handler;
    }

    /**
     * Cuts {@code bytes} (position to limit, all consumed) into messages and parses them; a
     * message may span calls. Dispatch is separate so that another thread can decode.
     *
     * @throws ProtocolException on a framing error (over-long message, control byte) or text that is not JSON
     */
    public List<Received> decode(ByteBuffer bytes, long ns) throws ProtocolException {
        List<Received> out = new ArrayList<>();
        for (QmpInputSplitter.Piece piece : framer.feed(bytes)) {
            if (piece.isError()) {
                throw new ProtocolException(name + ": " + piece.parseError());
            }
            JsonNode message;
            try {
                message = QmpJson.parse(piece.json());
            } catch (IOException e) {
                throw new ProtocolException(name + ": JSON parse error from the server: " + e.getMessage());
            }
            out.add(new Received(message, ns));
        }
        return out;
    }

    /**
     * The wire line of a command with a fresh id; {@code onReply} is called when its reply is
     * dispatched.
     */
    public ByteBuffer encode(String command, ObjectNode arguments, Consumer<Reply> onReply) {
        long id = ++nextId;
        ObjectNode msg = QmpJson.object();
        msg.put("execute", command);
        if (arguments != null) {
            msg.set("arguments", arguments);
        }
        msg.put("id", id);
        pending.put(id, new Pending(command, System.nanoTime(), onReply));
        return ByteBuffer.wrap(QmpJson.line(msg));
    }

    /** The id the last {@link #encode} used. */
    public long lastId() {
        return nextId;
    }

    /** Forgets a command whose caller stopped waiting (a late reply then counts as unmatched). */
    public void abandon(long id) {
        pending.remove(id);
    }

    /** Commands sent and not answered yet. */
    public int unanswered() {
        return pending.size();
    }

    /**
     * Dispatches one message: the first must be the greeting; after it, the line observer sees
     * each message, events go to the event listener and replies to their command's callback.
     */
    public void dispatch(Received m) throws ProtocolException {
        JsonNode message = m.message();
        if (greeting == null) {
            if (!message.has("QMP")) {
                throw new ProtocolException(name + ": not a QMP greeting: " + QmpJson.text(message));
            }
            greeting = message;
            return;
        }
        lineObserver.accept(message);
        if (message.has("event")) {
            eventListener.accept(m);
            return;
        }
        Pending p = message instanceof ObjectNode ? pending.remove(message.path("id").asLong(-1)) : null;
        if (p == null) {
            unmatchedReply.accept(message);
            return;
        }
        p.onReply().accept(new Reply(p.command(), (ObjectNode) message, p.sentNs(), m.ns()));
    }

    /** The {@code return} value of a reply, or a {@link QmpException} with its error. */
    public static JsonNode unwrap(ObjectNode reply) {
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
}
