package dev.livetap.engine.transport;

import dev.livetap.actors.RoutineLog;
import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.Reactor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.MDC;
import org.slf4j.LoggerFactory;

/**
 * The real {@link MigrationTransport}: AF_UNIX path sockets through {@link Os#unix()} and the one
 * framing layer ({@link UnixFrameChannel}), accept driven by the process's reactor (nothing blocks).
 *
 * <p>{@link #acceptOne}: listens at the path with mode 0600, owning it through {@code PATH.lock}
 * ({@link SocketPaths}: a leftover socket is replaced, a path a live process owns or a non-socket
 * path is refused), accepts on the reactor, checks each peer's
 * SO_PEERCRED against the {@link PeerPolicy} (a refused peer is logged with its pid and uid and
 * closed; the listener keeps waiting for the right peer), then closes the listener and unlinks
 * the path. It fails with a {@link TimeoutException} after {@link Settings#acceptTimeout()},
 * which should be shorter than the coordinator's channel timeout so that no channel is ever
 * handed to a coordinator that gave up. Cancelling the returned stage
 * ({@code toCompletableFuture().cancel(false)}) or {@link #close()} stops the wait and removes
 * the socket.
 */
public final class UnixMigrationTransport implements MigrationTransport, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(UnixMigrationTransport.class);
    /** Refused peers named in the timeout message; further ones are only counted (memory stays bounded). */
    public static final int MAX_REFUSED_PEERS_REMEMBERED = 16;

    /** Schedules a one-shot task (the engine passes Pekko's scheduler: design decision 4). */
    @FunctionalInterface
    public interface Timer {
        /** Runs {@code task} once after {@code delay}; the returned handle cancels it. */
        Runnable schedule(Duration delay, Runnable task);
    }

    /**
     * @param acceptTimeout how long {@link #acceptOne} waits for an allowed peer
     * @param socketMode file mode of the listening socket (0600)
     * @param peerPolicy who may connect (SO_PEERCRED)
     */
    public record Settings(Duration acceptTimeout, int socketMode, PeerPolicy peerPolicy, ChannelLimits limits) {
        public static final int DEFAULT_SOCKET_MODE = 0600;

        public Settings {
            Objects.requireNonNull(acceptTimeout, "acceptTimeout");
            Objects.requireNonNull(peerPolicy, "peerPolicy");
            Objects.requireNonNull(limits, "limits");
            if (acceptTimeout.isNegative() || acceptTimeout.isZero()) {
                throw new IllegalArgumentException("acceptTimeout must be positive");
            }
        }

        /** Mode 0600, same uid only, default channel limits. */
        public static Settings defaults(Duration acceptTimeout) {
            return new Settings(acceptTimeout, DEFAULT_SOCKET_MODE,
                    PeerPolicy.sameUser(dev.livetap.nativeio.ProcessIdentity.uid()), ChannelLimits.DEFAULT);
        }

        public Settings withPeerPolicy(PeerPolicy policy) {
            return new Settings(acceptTimeout, socketMode, policy, limits);
        }

        public Settings withSocketMode(int mode) {
            return new Settings(acceptTimeout, mode, peerPolicy, limits);
        }
    }

    private final Os os;
    private final Settings settings;
    private final Timer timer;
    private final Set<Accept> pending = new LinkedHashSet<>();
    private boolean closed;

    public UnixMigrationTransport(Os os, Settings settings, Timer timer) {
        this.os = Objects.requireNonNull(os, "os");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.timer = Objects.requireNonNull(timer, "timer");
    }

    public Settings settings() {
        return settings;
    }

    @Override
    public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
        CompletableFuture<FrameChannel> f = new CompletableFuture<>();
        OwnedFd socket;
        try {
            socket = os.unix().connect(Path.of(uri.path()));
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
            return f;
        }
        try {
            f.complete(UnixFrameChannel.open(os, socket, settings.limits()));
        } catch (RuntimeException e) {
            socket.close();
            f.completeExceptionally(e);
        }
        return f;
    }

    @Override
    public CompletionStage<FrameChannel> adopt(OwnedFd socket) {
        try {
            return CompletableFuture.completedFuture(UnixFrameChannel.open(os, socket, settings.limits()));
        } catch (RuntimeException e) {
            socket.close();
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
        CompletableFuture<FrameChannel> f = new CompletableFuture<>();
        Path path = Path.of(uri.path());
        SocketPaths.BoundSocket listener;
        synchronized (pending) {
            if (closed) {
                f.completeExceptionally(new IllegalStateException("the migration transport is closed"));
                return f;
            }
            for (Accept other : pending) {
                if (other.path.equals(path)) {
                    f.completeExceptionally(new IllegalStateException("refusing to listen on " + path
                            + ": an incoming migration of this process is already listening there"));
                    return f;
                }
            }
        }
        try {
            listener = SocketPaths.listenExclusive(os.unix(), path, settings.socketMode());
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
            return f;
        }
        Accept a = new Accept(path, listener, f);
        synchronized (pending) {
            pending.add(a);
        }
        RuntimeException failed = null;
        synchronized (a) { // the reactor may report the listener before register returns
            try {
                a.registration = os.reactor().register(listener.listener(), Reactor.READ, a::onAcceptable);
                a.cancelTimer = timer.schedule(settings.acceptTimeout(), () -> os.reactor().execute(() -> a.finish(null,
                        new TimeoutException("no migration peer connected to " + path + " within "
                                + settings.acceptTimeout().toMillis() + " ms" + a.refusedSummary()))));
            } catch (RuntimeException e) {
                failed = e;
            }
        }
        if (failed != null) {
            a.finish(null, failed);
            return f;
        }
        f.whenComplete((ch, e) -> {
            if (e instanceof CancellationException) {
                os.reactor().execute(() -> a.finish(null, e));
            }
        });
        RoutineLog.info(LOG, "migration socket {}: listening (mode {}, accept timeout {} ms)", path,
                Integer.toOctalString(settings.socketMode()), settings.acceptTimeout().toMillis());
        return f;
    }

    /** Number of {@link #acceptOne} waits still listening. */
    public int pendingAccepts() {
        synchronized (pending) {
            return pending.size();
        }
    }

    /** Stops every pending accept (its stage fails), closing the listeners and removing their paths. */
    @Override
    public void close() {
        List<Accept> all;
        synchronized (pending) {
            closed = true;
            all = new ArrayList<>(pending);
        }
        for (Accept a : all) {
            a.finish(null, new IllegalStateException("the migration transport closed while waiting at " + a.path));
        }
    }

    /** One listening path waiting for its peer. All methods are safe from any thread. */
    private final class Accept {
        final Path path;
        final SocketPaths.BoundSocket listener;
        final CompletableFuture<FrameChannel> result;
        final List<PeerCredentials> refused = new ArrayList<>();
        long refusedCount;
        Reactor.Registration registration;
        Runnable cancelTimer;
        boolean done;
        /** The caller's MDC (the VM's actor: migration id, warm-up): the reactor thread logs with it. */
        final Map<String, String> mdc = MDC.getCopyOfContextMap();

        Accept(Path path, SocketPaths.BoundSocket listener, CompletableFuture<FrameChannel> result) {
            this.path = path;
            this.listener = listener;
            this.result = result;
        }

        void onAcceptable(int readyOps) {
            while (true) {
                OwnedFd client;
                synchronized (this) {
                    if (done) {
                        return;
                    }
                    try {
                        client = os.unix().accept(listener.listener());
                    } catch (RuntimeException e) {
                        LOG.warn("migration socket {}: accept failed", path, e);
                        finish(null, e);
                        return;
                    }
                }
                if (client == null) {
                    return;
                }
                Optional<String> refusal;
                PeerCredentials peer = null;
                try {
                    peer = os.unix().peerCredentials(client);
                    refusal = settings.peerPolicy().refusal(peer);
                } catch (RuntimeException e) {
                    refusal = Optional.of("SO_PEERCRED failed: " + e.getMessage());
                }
                if (refusal.isPresent()) {
                    synchronized (this) {
                        // a flood of refused peers costs one warning each only up to the remembered few
                        if (refusedCount < MAX_REFUSED_PEERS_REMEMBERED) {
                            LOG.warn("migration socket {}: refused connection: {}; still waiting for an allowed peer",
                                    path, refusal.get());
                        } else {
                            LOG.debug("migration socket {}: refused connection: {}", path, refusal.get());
                        }
                        refusedCount++;
                        if (peer != null && refused.size() < MAX_REFUSED_PEERS_REMEMBERED) {
                            refused.add(peer);
                        }
                    }
                    client.close();
                    continue;
                }
                FrameChannel channel;
                try {
                    channel = UnixFrameChannel.open(os, client, settings.limits());
                } catch (RuntimeException e) {
                    client.close();
                    finish(null, e);
                    return;
                }
                PeerCredentials accepted = peer;
                RoutineLog.withMdc(mdc, () -> RoutineLog.info(LOG, "migration socket {}: accepted peer pid {} uid {}", path,
                        accepted.pid(), accepted.uid()));
                finish(channel, null);
                return;
            }
        }

        String refusedSummary() {
            synchronized (this) {
                if (refusedCount == 0) {
                    return "";
                }
                StringBuilder sb = new StringBuilder("; refused ").append(refusedCount).append(" peer(s):");
                for (PeerCredentials p : refused) {
                    sb.append(" pid ").append(p.pid()).append(" uid ").append(p.uid());
                }
                if (refusedCount > refused.size()) {
                    sb.append(" ...");
                }
                return sb.toString();
            }
        }

        /** Stops listening (once) and completes the stage with {@code channel} or {@code failure}. */
        void finish(FrameChannel channel, Throwable failure) {
            synchronized (this) {
                if (done) {
                    if (channel != null) {
                        channel.close();
                    }
                    return;
                }
                done = true;
                if (registration != null) {
                    registration.cancel();
                }
                if (cancelTimer != null) {
                    cancelTimer.run();
                }
                try {
                    listener.close(); // removes the path only if it is still this listener's
                } catch (RuntimeException e) {
                    LOG.warn("migration socket {}: cannot remove the path", path, e);
                }
            }
            synchronized (pending) {
                pending.remove(this);
            }
            if (channel != null) {
                if (!result.complete(channel)) {
                    channel.close(); // the waiter gave up (cancelled): never leak the channel
                }
            } else if (!(failure instanceof CancellationException)) {
                if (!result.completeExceptionally(failure)) {
                    LOG.debug("migration socket {}: already completed", path);
                }
                RoutineLog.withMdc(mdc, () -> RoutineLog.info(LOG, "migration socket {}: stopped waiting: {}", path,
                        failure.getMessage()));
            }
        }
    }
}
