package dev.livetap.engine.vmm;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.engine.qmp.QmpArg;
import dev.livetap.engine.qmp.QmpBuiltins;
import dev.livetap.engine.qmp.QmpCommandRegistry;
import dev.livetap.engine.qmp.QmpSchema;
import dev.livetap.engine.qmp.QmpServer;
import dev.livetap.engine.qmp.QmpType;
import dev.livetap.engine.qmp.QmpVersion;
import dev.livetap.engine.qmp.QmpVmCommands;
import dev.livetap.nativeio.Os;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One VM endpoint behind one QMP socket: the built-in commands, the VM commands forwarded by
 * {@link EndpointCommandHandler}, and the endpoint's events ({@code MIGRATION}, {@code STOP},
 * {@code RESUME}) emitted as QMP events; {@link #shutdownEvent} adds QEMU's {@code SHUTDOWN}.
 * MIGRATION events need the {@code events} capability, as in QEMU: the frontend follows it as set
 * through QMP (and as the endpoint reported it at start); the in-process {@link EndpointCore#subscribe}
 * API is not filtered.
 */
public final class QmpFrontend implements AutoCloseable {
    private final QmpServer server;
    private final EndpointCore.Subscription subscription;
    private static final long MAX_EVENT_AGE_NANOS = 10_000_000_000L;
    private final Os os;

    private QmpFrontend(QmpServer server, EndpointCore.Subscription subscription, Os os) {
        this.server = server;
        this.subscription = subscription;
        this.os = os;
    }

    /**
     * Starts the QMP server at {@code path} (mode 0600, same uid only) on {@code os}'s sockets and
     * subscribes it to the endpoint's events before returning, so that no event is missed.
     *
     * @param onQuit runs on the reactor thread after the reply to {@code quit}; must not block
     */
    public static QmpFrontend start(EndpointCore endpoint, Os os, Path path, Runnable onQuit, Duration timeout) {
        return start(endpoint, os, path, onQuit, timeout, QmpServer.Config.DEFAULT_NEGOTIATION_TIMEOUT);
    }

    /**
     * As {@link #start(EndpointCore, Os, Path, Runnable, Duration)}; a client that has not sent
     * {@code qmp_capabilities} within {@code negotiationTimeout} is disconnected.
     */
    public static QmpFrontend start(EndpointCore endpoint, Os os, Path path, Runnable onQuit, Duration timeout,
            Duration negotiationTimeout) {
        return start(endpoint, os, path, onQuit, () -> { }, timeout, negotiationTimeout);
    }

    /**
     * As above; {@code onIncomingFailed} runs on the reactor thread, after the MIGRATION {@code failed}
     * event went out, when an incoming migration started with {@code exit-on-error} (default true)
     * failed: the caller ends the endpoint (QEMU exits). Must not block.
     */
    public static QmpFrontend start(EndpointCore endpoint, Os os, Path path, Runnable onQuit, Runnable onIncomingFailed,
            Duration timeout, Duration negotiationTimeout) {
        QmpCommandRegistry registry = new QmpCommandRegistry();
        QmpBuiltins.register(registry, QmpVersion.DEFAULT);
        EndpointCommandHandler backend = new EndpointCommandHandler(endpoint, onQuit);
        QmpVmCommands.register(registry, backend);
        QmpBuiltins.registerIntrospection(registry, Optional.of(endpoint.name()), EVENTS);
        QmpServer server = QmpServer.start(os, registry, QmpServer.Config.defaults(path, Clock.systemUTC())
                .withNegotiationTimeout(negotiationTimeout));
        try {
            backend.initMigrationEvents(EndpointCommandHandler.toJson(endpoint.queryCapabilities().toCompletableFuture()
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS)));
            EndpointCore.Subscription sub = endpoint.subscribe(e -> {
                        forward(server, backend, os, e);
                        if (e.event().equals(VmEvent.MIGRATION)
                                && backend.incomingFailedWithExit(String.valueOf(e.data().get("status")))) {
                            os.reactor().execute(onIncomingFailed); // behind the event's delivery
                        }
                    })
                    .toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return new QmpFrontend(server, sub, os);
        } catch (InterruptedException e) {
            server.close();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (Exception e) {
            server.close();
            throw new IllegalStateException("cannot subscribe to VM " + endpoint.name() + ": " + e, e);
        }
    }

    /** The events this frontend emits, for query-qmp-schema. */
    static final List<QmpSchema.Event> EVENTS = List.of(
            new QmpSchema.Event("MIGRATION", List.of(QmpArg.enumOf("status", true,
                    QmpVmCommands.MIGRATION_STATUSES.toArray(String[]::new)))),
            new QmpSchema.Event("MIGRATION_PASS", List.of(QmpArg.required("pass", QmpType.INT))),
            new QmpSchema.Event("STOP", List.of()),
            new QmpSchema.Event("RESUME", List.of()),
            new QmpSchema.Event("SHUTDOWN", List.of(QmpArg.required("guest", QmpType.BOOL),
                    QmpArg.required("reason", QmpType.STR))));

    /**
     * One endpoint event as QEMU would send it: MIGRATION and MIGRATION_PASS only with the
     * {@code events} capability on; no {@code data} member for an event without data (STOP, RESUME).
     */
    private static void forward(QmpServer server, EndpointCommandHandler backend, Os os, VmEvent e) {
        if ((e.event().equals(VmEvent.MIGRATION) || e.event().equals("MIGRATION_PASS")) && !backend.migrationEvents()) {
            return;
        }
        // the timestamp says when the VM emitted the event, not when the server got to write it (a loaded
        // reactor could stamp a target's RESUME before the source's STOP); the age is bounded for sanity
        long age = Math.max(0, Math.min(os.clock().nanos() - e.atNanos(), MAX_EVENT_AGE_NANOS));
        server.emit(e.event(), e.data().isEmpty() ? null : EndpointCommandHandler.toJson(e.data()), e.atNanos(), age);
    }

    public QmpServer server() {
        return server;
    }

    /** QEMU's {@code SHUTDOWN {"guest": false, "reason": reason}}, delivered before this returns when called off the reactor. */
    public void shutdownEvent(String reason) {
        ObjectNode data = JsonNodeFactory.instance.objectNode();
        data.put("guest", false);
        data.put("reason", reason);
        server.emit("SHUTDOWN", data);
        if (!os.reactor().inReactorThread()) {
            CompletableFuture<Void> barrier = new CompletableFuture<>();
            os.reactor().execute(() -> barrier.complete(null));
            try {
                barrier.get(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                // the reactor is gone: the event cannot be delivered anyway
            }
        }
    }

    /** Stops the event subscription, disconnects the clients, removes the socket. */
    @Override
    public void close() {
        subscription.close();
        server.close();
    }
}
