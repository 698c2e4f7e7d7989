package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.RoutineLog;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.FdsTruncatedException;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A QMP server on a UNIX socket path, over the process's {@link UnixSockets} and {@link Reactor}
 * (design decision 1: no thread of its own, nothing blocks). Each accepted client gets a
 * {@link QmpSession}; reads use recvmsg so that SCM_RIGHTS fds arrive with their bytes; replies
 * and events are queued per client and flushed on WRITE readiness.
 *
 * <p>Socket path: created with mode 0600 and owned through the lock file {@code PATH.lock}
 * ({@link dev.livetap.engine.transport.SocketPaths}): a path whose lock a live process holds, or a
 * non-socket path, makes {@link #start} fail and is left alone; a leftover socket is replaced.
 * {@link #close()} unlinks the path if it is still this server's socket.
 *
 * <p>Threading: reactor callbacks, session completions (handed to the reactor) and
 * {@link #close()} / {@link #emit} (from any thread) serialise on one lock.
 */
public final class QmpServer implements AutoCloseable {
    /** errno(3) values, the same on every Linux ABI. */
    private static final int EMFILE = 24;
    private static final int ENFILE = 23;
    private static final int EPIPE = 32;
    private static final int ECONNRESET = 104;
    private static final Logger LOG = LoggerFactory.getLogger(QmpServer.class);
    private static final int READ_BUFFER_BYTES = 64 * 1024;
    /**
     * How long the listener rests after accept failed for want of a descriptor: the listener stays
     * readable (level-triggered), so retrying at once would spin the reactor; the client waits in
     * the backlog and gets its greeting once a descriptor is free.
     */
    static final long ACCEPT_RETRY_MILLIS = 100;

    /**
     * @param maxClients concurrent clients; one more is closed at once, without a greeting
     * @param maxOutputBytes replies and events queued for a client that does not read; beyond
     *     this the client is disconnected
     * @param negotiationTimeout a client that has not completed {@code qmp_capabilities} this long
     *     after connecting is disconnected, so that silent clients cannot hold every slot; a
     *     negotiated client stays however long it is quiet; zero: never
     */
    public record Config(Path path, int maxClients, int maxOutputBytes, QmpSession.Settings session,
            int socketMode, Optional<PeerPolicy> peerPolicy, Duration negotiationTimeout) {
        public static final int DEFAULT_MAX_CLIENTS = 16;
        public static final int DEFAULT_MAX_OUTPUT_BYTES = 8 << 20;
        public static final int DEFAULT_SOCKET_MODE = 0600;
        public static final Duration DEFAULT_NEGOTIATION_TIMEOUT = Duration.ofSeconds(10);

        public Config {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(session, "session");
            Objects.requireNonNull(peerPolicy, "peerPolicy");
            Objects.requireNonNull(negotiationTimeout, "negotiationTimeout");
            if (maxClients < 1 || maxOutputBytes < 1) {
                throw new IllegalArgumentException("limits must be positive");
            }
            if (negotiationTimeout.isNegative()) {
                throw new IllegalArgumentException("negotiationTimeout must not be negative");
            }
        }

        /** Mode 0600 and no SO_PEERCRED check (tests of the protocol itself). */
        public Config(Path path, int maxClients, int maxOutputBytes, QmpSession.Settings session) {
            this(path, maxClients, maxOutputBytes, session, DEFAULT_SOCKET_MODE, Optional.empty(), DEFAULT_NEGOTIATION_TIMEOUT);
        }

        public Config withPeerPolicy(PeerPolicy policy) {
            return new Config(path, maxClients, maxOutputBytes, session, socketMode, Optional.of(policy), negotiationTimeout);
        }

        /** The socket's file mode; anything wider than 0600 relies on the peer policy alone. */
        public Config withSocketMode(int mode) {
            return new Config(path, maxClients, maxOutputBytes, session, mode, peerPolicy, negotiationTimeout);
        }

        public Config withNegotiationTimeout(Duration value) {
            return new Config(path, maxClients, maxOutputBytes, session, socketMode, peerPolicy, value);
        }

        /** Mode 0600, and only peers with this process's uid (SO_PEERCRED). */
        public static Config defaults(Path path, Clock clock) {
            return new Config(path, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_OUTPUT_BYTES, QmpSession.Settings.defaults(clock),
                    DEFAULT_SOCKET_MODE, Optional.of(PeerPolicy.sameUser(dev.livetap.nativeio.ProcessIdentity.uid())),
                    DEFAULT_NEGOTIATION_TIMEOUT);
        }
    }

    /**
     * Negotiation deadlines of every server in the process: one daemon thread that only hands the
     * check to the server's reactor (the reactor has no timers of its own).
     */
    private static final class Deadlines {
        static final ScheduledThreadPoolExecutor TIMER = create();

        private static ScheduledThreadPoolExecutor create() {
            ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
                Thread thread = new Thread(r, "livetap-qmp-deadlines");
                thread.setDaemon(true);
                return thread;
            });
            t.setRemoveOnCancelPolicy(true);
            return t;
        }
    }

    private final Object lock = new Object();
    private final UnixSockets unix;
    private final Reactor reactor;
    private final QmpCommandRegistry registry;
    private final Config config;
    private final List<Connection> connections = new ArrayList<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocate(READ_BUFFER_BYTES);
    private final Executor sessionExecutor;
    private dev.livetap.engine.transport.SocketPaths.BoundSocket bound;
    private OwnedFd listener;
    private Reactor.Registration listenerRegistration;
    private long accepted;
    private boolean closed;
    /** What a client whose fds the kernel dropped is told. */
    static final String FDS_LOST = "the kernel dropped them (MSG_CTRUNC): this VMM is at its descriptor limit"
            + " (EMFILE: RLIMIT_NOFILE)";

    private QmpServer(UnixSockets unix, Reactor reactor, QmpCommandRegistry registry, Config config) {
        this.unix = unix;
        this.reactor = reactor;
        this.registry = registry;
        this.config = config;
        this.sessionExecutor = task -> reactor.execute(() -> {
            synchronized (lock) {
                if (!closed) {
                    task.run();
                }
            }
        });
    }

    public static QmpServer start(Os os, QmpCommandRegistry registry, Config config) {
        return start(os.unix(), os.reactor(), registry, config);
    }

    /** Binds the socket path and starts accepting on the reactor. */
    public static QmpServer start(UnixSockets unix, Reactor reactor, QmpCommandRegistry registry, Config config) {
        loadReplyPath(registry, config.session());
        QmpServer server = new QmpServer(unix, reactor, registry, config);
        synchronized (server.lock) {
            server.bound = dev.livetap.engine.transport.SocketPaths.listenExclusive(unix, config.path(), config.socketMode());
            server.listener = server.bound.listener();
            server.listenerRegistration = reactor.register(server.listener, Reactor.READ, server::onAcceptable);
        }
        RoutineLog.info(LOG, "QMP server listening on {}", config.path());
        return server;
    }

    /**
     * Runs a throwaway session through a greeting, two error replies and a request whose fds were
     * dropped, so that every class those paths need is loaded now: at its descriptor limit a process
     * cannot load a class from a class path directory (each .class file is opened), and a first
     * error reply there failed with NoClassDefFoundError and left the client without an answer.
     */
    private static void loadReplyPath(QmpCommandRegistry registry, QmpSession.Settings settings) {
        QmpSession session = new QmpSession("qmp-preload", registry, settings, message -> { }, Runnable::run);
        session.start();
        // errors only: no command reaches a VM (qmp_capabilities touches this session alone)
        session.receive(ByteBuffer.wrap(("{\"execute\": \"query-status\"}\n[1]\n{\"execute\": \"qmp_capabilities\"}\n"
                + "{\"execute\": \"x-livetap-none\"}\n").getBytes(StandardCharsets.US_ASCII)), List.of());
        session.receiveWithoutItsFds(ByteBuffer.wrap("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"f\"}}"
                .getBytes(StandardCharsets.US_ASCII)), FDS_LOST);
        session.close();
    }

    public Path path() {
        return config.path();
    }

    public int clientCount() {
        synchronized (lock) {
            return connections.size();
        }
    }

    /** Sends an event to every negotiated client, stamped now by the configured clock. Any thread. */
    public void emit(String event, JsonNode data) {
        deliver(QmpSession.eventMessage(config.session().clock().instant(), event, data));
    }

    /**
     * As {@link #emit(String, JsonNode)}, with the livetap member {@code x-monotonic-ns}: the
     * CLOCK_MONOTONIC nanoseconds when the event happened, which order events of several processes
     * (the wall-clock {@code timestamp} is taken later, when the event reaches this server).
     */
    public void emit(String event, JsonNode data, long monotonicNanos) {
        emit(event, data, monotonicNanos, 0);
    }

    /**
     * As {@link #emit(String, JsonNode, long)}, with a {@code timestamp} of now minus {@code ageNanos}:
     * when the event happened, for a caller that knows how long ago that was.
     */
    public void emit(String event, JsonNode data, long monotonicNanos, long ageNanos) {
        ObjectNode message = QmpSession.eventMessage(config.session().clock().instant().minusNanos(ageNanos), event, data);
        message.put("x-monotonic-ns", monotonicNanos);
        deliver(message);
    }

    private void deliver(ObjectNode message) {
        Runnable deliver = () -> {
            synchronized (lock) {
                if (closed) {
                    return;
                }
                for (Connection c : List.copyOf(connections)) {
                    c.session.sendEvent(message);
                }
            }
        };
        if (reactor.inReactorThread()) {
            deliver.run();
        } else {
            reactor.execute(deliver);
        }
    }

    /** Disconnects every client (closing the fds their sessions hold), closes the listener, unlinks the path. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            listenerRegistration.cancel();
            for (Connection c : List.copyOf(connections)) {
                drop(c, "server closing");
            }
            bound.close();
        }
        RoutineLog.info(LOG, "QMP server on {} closed", config.path());
    }

    private void onAcceptable(int readyOps) {
        synchronized (lock) {
            if (closed) {
                return;
            }
            while (true) {
                OwnedFd client;
                try {
                    client = unix.accept(listener);
                } catch (RuntimeException e) {
                    if (e instanceof NativeException n && (n.errno() == EMFILE || n.errno() == ENFILE)) {
                        restListener(e);
                    } else {
                        LOG.warn("QMP accept on {} failed: {}", config.path(), e.toString());
                    }
                    return;
                }
                if (client == null) {
                    return;
                }
                if (connections.size() >= config.maxClients()) {
                    LOG.warn("QMP {}: refusing a client, {} connected (limit {})", config.path(), connections.size(),
                            config.maxClients());
                    client.close();
                    continue;
                }
                if (config.peerPolicy().isPresent()) {
                    Optional<String> refusal;
                    try {
                        refusal = config.peerPolicy().get().refusal(unix.peerCredentials(client));
                    } catch (RuntimeException e) {
                        refusal = Optional.of("SO_PEERCRED failed: " + e.getMessage());
                    }
                    if (refusal.isPresent()) {
                        LOG.warn("QMP {}: refused connection: {}", config.path(), refusal.get());
                        client.close();
                        continue;
                    }
                }
                open(client);
            }
        }
    }

    /** At the descriptor limit: no READ interest on the listener for a while (one WARN per rest). */
    private void restListener(RuntimeException e) {
        LOG.warn("QMP accept on {} failed, retrying in {} ms: {}", config.path(), ACCEPT_RETRY_MILLIS, e.getMessage());
        listenerRegistration.interest(0);
        Deadlines.TIMER.schedule(() -> reactor.execute(() -> {
            synchronized (lock) {
                if (!closed) {
                    listenerRegistration.interest(Reactor.READ);
                }
            }
        }), ACCEPT_RETRY_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void open(OwnedFd fd) {
        Connection c = new Connection(fd, "qmp#" + (++accepted));
        connections.add(c);
        c.registration = reactor.register(fd, Reactor.READ, ops -> onReady(c, ops));
        c.session = new QmpSession(c.name, registry, config.session(), c, sessionExecutor);
        LOG.debug("{}: connected on {}", c.name, config.path());
        c.session.start();
        if (!config.negotiationTimeout().isZero()) {
            c.deadline = Deadlines.TIMER.schedule(() -> reactor.execute(() -> negotiationDeadline(c)),
                    config.negotiationTimeout().toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    private void negotiationDeadline(Connection c) {
        synchronized (lock) {
            if (c.closed || c.session.negotiated()) {
                return;
            }
            LOG.debug("{}: no qmp_capabilities within {} ms, disconnecting", c.name, config.negotiationTimeout().toMillis());
            drop(c, "capabilities negotiation timed out");
        }
    }

    private void onReady(Connection c, int ops) {
        synchronized (lock) {
            if (c.closed) {
                return;
            }
            if ((ops & Reactor.WRITE) != 0) {
                flush(c);
            }
            if (c.closed) {
                return;
            }
            if ((ops & Reactor.READ) != 0 || (ops & Reactor.HANGUP) != 0) {
                if (c.readPaused) {
                    if ((ops & Reactor.HANGUP) != 0) {
                        drop(c, "hang-up while its requests wait");
                    }
                    return;
                }
                read(c);
            }
        }
    }

    private void read(Connection c) {
        while (!c.closed && !c.readPaused) {
            readBuffer.clear();
            List<OwnedFd> fds = new ArrayList<>();
            int n;
            try {
                n = unix.recvmsg(c.fd, readBuffer, fds, UnixSockets.SCM_MAX_FD);
            } catch (FdsTruncatedException e) {
                // the bytes arrived, their fds did not (this process at its descriptor limit, EMFILE):
                // the command they came with fails with an error, the session stays
                OwnedFd.closeAll(fds);
                LOG.warn("{}: fds sent by the client were dropped by the kernel: {}", c.name, e.getMessage());
                readBuffer.flip();
                if (!c.session.receiveWithoutItsFds(readBuffer, FDS_LOST) && !c.closed) {
                    c.readPaused = true;
                    updateInterest(c);
                }
                continue;
            } catch (RuntimeException e) {
                OwnedFd.closeAll(fds);
                if (peerWentAway(e)) {
                    LOG.debug("{}: the client went away: {}", c.name, e.getMessage());
                    drop(c, "client reset the connection");
                } else {
                    LOG.warn("{}: receive failed, disconnecting: {}", c.name, e.toString());
                    drop(c, "receive failed");
                }
                return;
            }
            if (n < 0) {
                OwnedFd.closeAll(fds);
                drop(c, "client closed the connection");
                return;
            }
            if (n == 0 && fds.isEmpty()) {
                return;
            }
            readBuffer.flip();
            if (!c.session.receive(readBuffer, fds) && !c.closed) {
                c.readPaused = true;
                updateInterest(c);
            }
        }
    }

    private void flush(Connection c) {
        while (!c.out.isEmpty()) {
            ByteBuffer head = c.out.peek();
            int n;
            try {
                n = unix.sendmsg(c.fd, head, List.of());
            } catch (RuntimeException e) {
                LOG.debug("{}: send failed: {}", c.name, e.getMessage());
                drop(c, "send failed");
                return;
            }
            if (n == 0) {
                break;
            }
            c.outBytes -= n;
            if (!head.hasRemaining()) {
                c.out.poll();
            }
        }
        updateInterest(c);
    }

    private void updateInterest(Connection c) {
        if (c.closed) {
            return;
        }
        int ops = (c.readPaused ? 0 : Reactor.READ) | (c.out.isEmpty() ? 0 : Reactor.WRITE);
        if (c.registration != null && c.registration.interest() != ops) {
            c.registration.interest(ops);
        }
    }

    /** ECONNRESET / EPIPE: a client that closed its end with data unread is a client leaving, not a fault. */
    private static boolean peerWentAway(RuntimeException e) {
        return e instanceof NativeException n && (n.errno() == ECONNRESET || n.errno() == EPIPE);
    }

    private void drop(Connection c, String why) {
        if (c.closed) {
            return;
        }
        c.closed = true;
        connections.remove(c);
        if (c.deadline != null) {
            c.deadline.cancel(false);
        }
        if (c.registration != null) {
            c.registration.cancel();
        }
        if (c.session != null) {
            c.session.close();
        }
        c.out.clear();
        c.fd.close();
        LOG.debug("{}: disconnected ({})", c.name, why);
    }

    /** One client: its socket, session and output queue. Guarded by the server lock. */
    private final class Connection implements QmpSession.Output {
        final OwnedFd fd;
        final String name;
        final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();
        long outBytes;
        Reactor.Registration registration;
        QmpSession session;
        ScheduledFuture<?> deadline;
        boolean readPaused;
        boolean closed;

        Connection(OwnedFd fd, String name) {
            this.fd = fd;
            this.name = name;
        }

        @Override
        public void send(byte[] message) {
            if (closed) {
                return;
            }
            out.add(ByteBuffer.wrap(message));
            outBytes += message.length;
            if (outBytes > config.maxOutputBytes()) {
                LOG.warn("{}: {} bytes of output wait unread (limit {}), disconnecting", name, outBytes, config.maxOutputBytes());
                drop(this, "output limit");
                return;
            }
            if (out.size() == 1) {
                flush(this);
            }
        }

        @Override
        public void resumeInput() {
            if (closed) {
                return;
            }
            readPaused = false;
            updateInterest(this);
            // bytes may already wait in the socket: an edge-triggered reactor would not report them again
            reactor.execute(() -> onReady(this, Reactor.READ));
        }
    }
}
