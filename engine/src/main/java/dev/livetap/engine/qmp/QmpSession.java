package dev.livetap.engine.qmp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.nativeio.OwnedFd;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One QMP client connection's protocol state, independent of any transport: bytes and fds go in
 * through {@link #receive}, replies and events come out through {@link Output}.
 *
 * <p>Behaviour (QEMU's QMP spec): a greeting on {@link #start()}; capabilities negotiation mode
 * until {@code qmp_capabilities} succeeds (every other command then fails with CommandNotFound,
 * and no events are sent); requests run one at a time in arrival order, each reply sent before
 * the next request starts, even when a handler answers asynchronously; {@code id} is echoed
 * verbatim; malformed input yields a GenericError and the session carries on.
 *
 * <p>Threading: not thread-safe. Every method runs on the session's executor (the server's
 * reactor thread); asynchronous handler completions are handed to that executor before they
 * touch the session. {@link #takeFd} must be called synchronously from within a handler.
 */
public final class QmpSession {
    private static final Logger LOG = LoggerFactory.getLogger(QmpSession.class);
    /** The one QMP capability; no livetap command is allow-oob, so exec-oob always fails as QEMU's does for such commands. */
    static final String OOB = "oob";

    /** Where a session's output goes. */
    public interface Output {
        /** Sends one complete message (JSON + CRLF). */
        void send(byte[] message);

        /** The request queue fell below its limit after {@link #receive} returned false. */
        default void resumeInput() {
        }
    }

    /**
     * Protocol settings.
     *
     * @param maxMessageBytes the longest accepted JSON text; longer ones are discarded with an error
     * @param maxQueuedRequests above this many unanswered requests, {@link #receive} asks the
     *     transport to stop reading (QEMU stops reading at 8 as well)
     * @param clock wall clock for event timestamps (injected: the simulation needs determinism)
     * @param maxNamedFds fds one session may hold by {@code getfd} name at once; a {@code getfd}
     *     of a new name beyond this fails and its fd is closed
     */
    public record Settings(QmpVersion version, int maxMessageBytes, int maxQueuedRequests, Clock clock, int maxNamedFds) {
        public static final int DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;
        public static final int DEFAULT_MAX_QUEUED_REQUESTS = 8;
        /** 256 queues x (TAP fd + vhost fd): the most one {@code netdev_add fds=/vhostfds=} can name. */
        public static final int DEFAULT_MAX_NAMED_FDS = 512;

        public Settings {
            Objects.requireNonNull(version, "version");
            Objects.requireNonNull(clock, "clock");
            if (maxQueuedRequests < 1) {
                throw new IllegalArgumentException("maxQueuedRequests must be >= 1");
            }
            if (maxNamedFds < 1) {
                throw new IllegalArgumentException("maxNamedFds must be >= 1");
            }
        }

        public Settings(QmpVersion version, int maxMessageBytes, int maxQueuedRequests, Clock clock) {
            this(version, maxMessageBytes, maxQueuedRequests, clock, DEFAULT_MAX_NAMED_FDS);
        }

        public static Settings defaults(Clock clock) {
            return new Settings(QmpVersion.DEFAULT, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_QUEUED_REQUESTS, clock);
        }

        public Settings withMaxNamedFds(int value) {
            return new Settings(version, maxMessageBytes, maxQueuedRequests, clock, value);
        }
    }

    /**
     * A request in arrival order: a parsed JSON value, or the parse error that replaced it.
     * {@code fdsLost}: why the fds sent with it never arrived (the kernel truncated them), else null.
     */
    private record Pending(JsonNode message, String parseError, List<OwnedFd> fds, String fdsLost) {
    }

    private final String name;
    private final QmpCommandRegistry registry;
    private final Settings settings;
    private final Output output;
    private final Executor executor;
    private final QmpInputSplitter splitter;
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private final Map<String, OwnedFd> namedFds = new LinkedHashMap<>();
    private final List<Runnable> afterReply = new ArrayList<>();
    private List<OwnedFd> carryFds = new ArrayList<>();
    private String carryLost;
    private Pending inFlight;
    private boolean pumping;
    private boolean negotiated;
    private boolean oob;
    private boolean started;
    private boolean closed;
    private boolean inputPaused;

    /**
     * @param name for logs (e.g. "qmp#3")
     * @param executor runs asynchronous completions on the session's thread
     */
    public QmpSession(String name, QmpCommandRegistry registry, Settings settings, Output output, Executor executor) {
        this.name = Objects.requireNonNull(name, "name");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.output = Objects.requireNonNull(output, "output");
        this.executor = Objects.requireNonNull(executor, "executor");
        this.splitter = new QmpInputSplitter(settings.maxMessageBytes());
    }

    public String name() {
        return name;
    }

    /** Sends the greeting. Call once, before anything else. */
    public void start() {
        if (started) {
            throw new IllegalStateException(name + " already started");
        }
        started = true;
        ObjectNode greeting = QmpJson.object();
        ObjectNode qmp = greeting.putObject("QMP");
        qmp.set("version", settings.version().toJson());
        qmp.putArray("capabilities").add(OOB); // offered as QEMU does on a socket monitor
        output.send(QmpJson.line(greeting));
    }

    /**
     * Feeds bytes read from the client and the fds that arrived with them (one recvmsg). The kernel
     * delivers fds with the first byte of the sendmsg that carried them, so they belong to the
     * message that byte is part of: the message in progress if the bytes continue one, else the
     * first message that begins in them. fds with no message to go to are closed. The session
     * owns the fds from here on.
     *
     * @return false when the transport should stop reading until {@link Output#resumeInput()}
     */
    public boolean receive(ByteBuffer data, List<OwnedFd> fds) {
        return receive(data, fds, null);
    }

    /**
     * As {@link #receive(ByteBuffer, List)} for bytes whose fds the kernel dropped (recvmsg's
     * MSG_CTRUNC, e.g. this process at its descriptor limit): the message those fds belonged to
     * (the same rule) fails with {@code why} if its command takes fds; the session goes on.
     */
    public boolean receiveWithoutItsFds(ByteBuffer data, String why) {
        return receive(data, List.of(), Objects.requireNonNull(why, "why"));
    }

    private boolean receive(ByteBuffer data, List<OwnedFd> fds, String lost) {
        if (closed) {
            OwnedFd.closeAll(fds);
            return false;
        }
        List<OwnedFd> chunkFds = fds.isEmpty() ? null : new ArrayList<>(fds);
        String chunkLost = lost;
        if ((chunkFds != null || chunkLost != null) && splitter.inMessage()) {
            // the chunk's first byte continues a message: the fds were sent with that message
            if (chunkFds != null) {
                carryFds.addAll(chunkFds);
            }
            carryLost = chunkLost != null ? chunkLost : carryLost;
            chunkFds = null;
            chunkLost = null;
        }
        List<QmpInputSplitter.Piece> pieces = splitter.feed(data);
        for (QmpInputSplitter.Piece piece : pieces) {
            List<OwnedFd> mine = List.of();
            String mineLost = null;
            if (!piece.startedInThisChunk()) {
                mine = carryFds;
                mineLost = carryLost;
                carryFds = new ArrayList<>();
                carryLost = null;
            } else if (chunkFds != null || chunkLost != null) {
                mine = chunkFds == null ? List.of() : chunkFds;
                mineLost = chunkLost;
                chunkFds = null;
                chunkLost = null;
            }
            queue.add(parse(piece, mine, mineLost));
        }
        if (chunkFds != null || chunkLost != null) {
            if (splitter.inMessage()) {
                if (chunkFds != null) {
                    carryFds.addAll(chunkFds);
                }
                carryLost = chunkLost != null ? chunkLost : carryLost;
            } else if (chunkFds != null) {
                LOG.warn("{}: closing {} fd(s) that arrived without a message", name, chunkFds.size());
                OwnedFd.closeAll(chunkFds);
            }
        }
        pump();
        if (queue.size() >= settings.maxQueuedRequests()) {
            inputPaused = true;
        }
        return !inputPaused;
    }

    private Pending parse(QmpInputSplitter.Piece piece, List<OwnedFd> fds, String fdsLost) {
        if (piece.isError()) {
            return new Pending(null, piece.parseError(), fds, fdsLost);
        }
        try {
            return new Pending(QmpJson.parse(piece.json()), null, fds, fdsLost);
        } catch (JsonProcessingException e) {
            String why = e.getOriginalMessage();
            int nl = why.indexOf('\n');
            return new Pending(null, "JSON parse error, " + (nl < 0 ? why : why.substring(0, nl)), fds, fdsLost);
        } catch (IOException e) {
            return new Pending(null, "JSON parse error, " + e.getMessage(), fds, fdsLost);
        }
    }

    /** True once {@code qmp_capabilities} succeeded: commands run and events are delivered. */
    public boolean negotiated() {
        return negotiated;
    }

    public boolean isClosed() {
        return closed;
    }

    /** Requests received but not answered yet (including the one running). */
    public int pendingRequests() {
        return queue.size() + (inFlight == null ? 0 : 1);
    }

    /** Sends an event stamped with the session's clock; dropped unless negotiated. */
    public void event(String event, JsonNode data) {
        sendEvent(eventMessage(settings.clock().instant(), event, data));
    }

    /** Sends a ready-made event message (the server stamps once for all sessions). */
    void sendEvent(ObjectNode message) {
        if (negotiated && !closed) {
            output.send(QmpJson.line(message));
        }
    }

    /** {"timestamp": {"seconds": s, "microseconds": us}, "event": name, "data": data}. */
    static ObjectNode eventMessage(Instant when, String event, JsonNode data) {
        ObjectNode m = QmpJson.object();
        ObjectNode ts = m.putObject("timestamp");
        ts.put("seconds", when.getEpochSecond());
        ts.put("microseconds", when.getNano() / 1000);
        m.put("event", event);
        if (data != null) {
            m.set("data", data);
        }
        return m;
    }

    // ---- fds passed with getfd ----------------------------------------------------------------

    /**
     * Removes the fd stored under {@code fdName} by getfd and hands it to the caller, as QEMU's
     * monitor does for {@code netdev_add fd=NAME}.
     *
     * @throws QmpException (GenericError) when no such name exists
     */
    public OwnedFd takeFd(String fdName) {
        OwnedFd fd = namedFds.remove(fdName);
        if (fd == null) {
            throw QmpException.generic("File descriptor named '" + fdName + "' has not been found");
        }
        return fd;
    }

    /** Names of the fds stored by getfd, in the order they were first stored. */
    public Set<String> fdNames() {
        return Set.copyOf(namedFds.keySet());
    }

    /**
     * Stores {@code fd} under {@code fdName} (the old fd of that name is closed).
     *
     * @throws QmpException (GenericError) when a new name would exceed {@link Settings#maxNamedFds()};
     *     {@code fd} is closed
     */
    void putFd(String fdName, OwnedFd fd) {
        if (!namedFds.containsKey(fdName) && namedFds.size() >= settings.maxNamedFds()) {
            fd.close();
            LOG.warn("{}: getfd {} refused: {} named fds held (limit {})", name, fdName, namedFds.size(),
                    settings.maxNamedFds());
            throw QmpException.generic("Too many file descriptors held by this session (limit "
                    + settings.maxNamedFds() + "); closefd some first");
        }
        OwnedFd old = namedFds.put(fdName, fd);
        if (old != null) {
            LOG.debug("{}: getfd {} replaces {}", name, fdName, old);
            old.close();
        }
    }

    boolean closeFd(String fdName) {
        OwnedFd fd = namedFds.remove(fdName);
        if (fd == null) {
            return false;
        }
        fd.close();
        return true;
    }

    void enterCommandMode(boolean enableOob) {
        negotiated = true;
        oob = enableOob;
    }

    /** True when {@code qmp_capabilities} enabled {@code oob}: {@code exec-oob} is then understood. */
    public boolean oobEnabled() {
        return oob;
    }

    /** Runs {@code task} right after the reply of the command now executing has been sent. */
    public void runAfterReply(Runnable task) {
        afterReply.add(task);
    }

    /** Ends the session: every fd it holds is closed; replies still pending are dropped. Idempotent. */
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<OwnedFd> all = new ArrayList<>(carryFds);
        for (Pending p : queue) {
            all.addAll(p.fds());
        }
        all.addAll(namedFds.values());
        queue.clear();
        namedFds.clear();
        carryFds = List.of();
        afterReply.clear();
        if (!all.isEmpty()) {
            LOG.debug("{}: closing {} fd(s) at session end", name, all.size());
        }
        OwnedFd.closeAll(all);
        LOG.debug("{}: closed", name);
    }

    // ---- dispatch -----------------------------------------------------------------------------

    private void pump() {
        if (pumping) {
            return;
        }
        pumping = true;
        try {
            while (!closed && inFlight == null && !queue.isEmpty()) {
                Pending p = queue.poll();
                JsonNode id = p.message() != null && p.message().isObject() ? p.message().get("id") : null;
                CompletableFuture<JsonNode> result = dispatch(p);
                // even a result that is already complete is finished through the executor: one that
                // completed on another thread meanwhile must not overtake what that thread queued
                // before it (an event the VM sent before its answer)
                inFlight = p;
                result.whenComplete((v, e) -> executor.execute(() -> {
                    if (inFlight == p) {
                        inFlight = null;
                        finish(id, result);
                        pump();
                    }
                }));
            }
            if (inputPaused && !closed && queue.size() < settings.maxQueuedRequests()) {
                inputPaused = false;
                output.resumeInput();
            }
        } finally {
            pumping = false;
        }
    }

    private CompletableFuture<JsonNode> dispatch(Pending p) {
        List<OwnedFd> fds = p.fds();
        try {
            if (p.parseError() != null) {
                throw QmpException.generic(p.parseError());
            }
            JsonNode msg = p.message();
            if (!msg.isObject()) {
                throw QmpException.generic("QMP input must be a JSON object");
            }
            String command = null;
            boolean execOob = false;
            ObjectNode args = null;
            for (Map.Entry<String, JsonNode> e : msg.properties()) {
                switch (e.getKey()) {
                    case "execute", "exec-oob" -> {
                        boolean isOob = e.getKey().equals("exec-oob");
                        if (isOob && !oob) {
                            throw QmpException.generic("QMP input member 'exec-oob' is unexpected");
                        }
                        if (!e.getValue().isTextual()) {
                            throw QmpException.generic("QMP input member '" + e.getKey() + "' must be a string");
                        }
                        if (command != null) {
                            // QEMU's QDict visits exec-oob before execute whatever the input order
                            throw QmpException.generic("QMP input member 'execute' clashes with 'exec-oob'");
                        }
                        command = e.getValue().textValue();
                        execOob = isOob;
                    }
                    case "arguments" -> {
                        if (!e.getValue().isObject()) {
                            throw QmpException.generic("QMP input member 'arguments' must be an object");
                        }
                        args = (ObjectNode) e.getValue();
                    }
                    case "id" -> {
                        // any JSON value, echoed in the reply
                    }
                    default -> throw QmpException.generic("QMP input member '" + e.getKey() + "' is unexpected");
                }
            }
            if (command == null) {
                throw QmpException.generic("QMP input lacks member 'execute'");
            }
            QmpCommand cmd = registry.find(command).orElse(null);
            if (!negotiated && (cmd == null || !cmd.allowedBeforeNegotiation())) {
                throw new QmpException(QmpErrorClass.CommandNotFound,
                        "Expecting capabilities negotiation with 'qmp_capabilities'");
            }
            if (cmd == null) {
                throw QmpException.commandNotFound(command);
            }
            if (execOob) {
                throw QmpException.generic("The command " + command + " does not support OOB");
            }
            if (args == null) {
                args = QmpJson.object();
            }
            if (p.fdsLost() != null && cmd.acceptsFds()) {
                // QEMU would answer as if none had been sent (getfd: "No file descriptor supplied
                // via SCM_RIGHTS"); the client is told what happened instead, and may retry
                throw QmpException.generic("the file descriptors sent with '" + command + "' did not arrive: "
                        + p.fdsLost() + "; nothing was done");
            }
            if (!cmd.acceptsFds() && !fds.isEmpty()) {
                LOG.warn("{}: closing {} fd(s) that came with '{}', which takes none", name, fds.size(), command);
                List<OwnedFd> stray = fds;
                fds = List.of();
                OwnedFd.closeAll(stray);
            }
            QmpCommandRegistry.validate(cmd, args);
            List<OwnedFd> handed = fds;
            fds = List.of(); // the handler owns them now
            CompletionStage<JsonNode> stage = cmd.handler().handle(args, handed, this);
            CompletableFuture<JsonNode> result = new CompletableFuture<>();
            stage.whenComplete((v, e) -> {
                if (e != null) {
                    result.completeExceptionally(e);
                } else {
                    result.complete(v);
                }
            });
            return result;
        } catch (RuntimeException e) {
            OwnedFd.closeAll(fds);
            return CompletableFuture.failedFuture(e);
        }
    }

    private void finish(JsonNode id, CompletableFuture<JsonNode> result) {
        if (closed) {
            return;
        }
        ObjectNode reply = QmpJson.object();
        try {
            JsonNode value = result.join();
            reply.set("return", value == null ? QmpJson.object() : value);
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            while (cause instanceof CompletionException && cause.getCause() != null) {
                cause = cause.getCause();
            }
            ObjectNode error = reply.putObject("error");
            if (cause instanceof QmpException q) {
                error.put("class", q.errorClass().name());
                error.put("desc", q.desc());
            } else {
                LOG.warn("{}: command failed unexpectedly", name, cause);
                error.put("class", QmpErrorClass.GenericError.name());
                error.put("desc", cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage());
            }
        }
        if (id != null) {
            reply.set("id", id);
        }
        output.send(QmpJson.line(reply));
        if (!afterReply.isEmpty()) {
            List<Runnable> tasks = new ArrayList<>(afterReply);
            afterReply.clear();
            tasks.forEach(Runnable::run);
        }
    }
}
