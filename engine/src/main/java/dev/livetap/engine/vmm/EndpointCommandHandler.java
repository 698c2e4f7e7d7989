package dev.livetap.engine.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.engine.api.LivetapException;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.qmp.QmpErrorClass;
import dev.livetap.engine.qmp.QmpException;
import dev.livetap.engine.qmp.QmpSession;
import dev.livetap.engine.qmp.VmCommandHandler;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Forwards each QMP VM command to a {@link EndpointCore} and maps the answer: a value becomes the
 * {@code return} JSON, a {@link LivetapException} becomes {@code {"error": {class, desc}}}.
 */
public final class EndpointCommandHandler implements VmCommandHandler {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Why {@code netdev_add vhostfd=}/{@code vhostfds=} is refused (the fds named are taken and closed, as QEMU would consume them). */
    public static final String VHOSTFD_UNSUPPORTED = "netdev_add with vhostfd=/vhostfds= is not supported by livetap's"
            + " VM endpoint: this kernel has no vhost-net and livetap's native layer has no vhost ioctls; the passed"
            + " descriptor(s) were closed";

    private final EndpointCore vm;
    private final Runnable onQuit;
    /** The {@code events} migration capability as last set through this backend (QEMU's default: off). */
    private volatile boolean migrationEvents;
    /** An incoming migration started with {@code exit-on-error} on (QEMU >= 9.1's default) and not ended yet. */
    private volatile boolean exitOnIncomingError;

    public EndpointCommandHandler(EndpointCore vm, Runnable onQuit) {
        this.vm = vm;
        this.onQuit = onQuit;
    }

    /**
     * Resolves {@code fd=}/{@code fds=} names through the session ({@code getfd}; QEMU's
     * {@code monitor_fd_param}) and passes the fds, in order, with the command: from then on they
     * are the VM's. Any failure here closes what was already taken.
     */
    @Override
    public CompletionStage<JsonNode> netdevAdd(ObjectNode args, QmpSession session) {
        List<OwnedFd> taken = new ArrayList<>();
        try {
            boolean vhost = false;
            for (String key : List.of("fd", "fds", "vhostfd", "vhostfds")) {
                if (!args.hasNonNull(key) || !args.get(key).isTextual()) {
                    continue;
                }
                vhost |= key.startsWith("vhost");
                for (String n : args.get(key).textValue().split(":", -1)) {
                    if (!n.isEmpty() && Character.isDigit(n.charAt(0))) {
                        throw QmpException.generic("Parameter '" + key + "' names descriptor number " + n
                                + ": livetap takes descriptors only by the name given with getfd");
                    }
                    if (!n.isEmpty()) {
                        taken.add(session.takeFd(n)); // an unknown name fails with QEMU's text
                    }
                }
            }
            if (vhost) {
                throw QmpException.generic(VHOSTFD_UNSUPPORTED);
            }
        } catch (RuntimeException e) {
            OwnedFd.closeAll(taken);
            return CompletableFuture.failedFuture(e);
        }
        String id = args.path("id").asText();
        // the VM closes the fds on any refusal; QEMU's net_client_init1 says only "Duplicate ID '%s'"
        return map(vm.netdevAdd(toMap(args), taken)).exceptionallyCompose(e -> {
            Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
            if (cause instanceof QmpException q && q.desc().equals("Duplicate ID '" + id + "' for netdev")) {
                return CompletableFuture.failedFuture(QmpException.generic("Duplicate ID '" + id + "'"));
            }
            return CompletableFuture.failedFuture(cause);
        });
    }

    @Override
    public CompletionStage<JsonNode> netdevDel(String id) {
        return map(vm.netdevDel(id));
    }

    @Override
    public CompletionStage<JsonNode> deviceAdd(ObjectNode args, QmpSession session) {
        return map(vm.deviceAdd(toMap(args)));
    }

    @Override
    public CompletionStage<JsonNode> deviceDel(String id) {
        return map(vm.deviceDel(id));
    }

    @Override
    public CompletionStage<JsonNode> migrateSetParameters(ObjectNode args) {
        return map(vm.setParameters(toMap(args)));
    }

    @Override
    public CompletionStage<JsonNode> queryMigrateParameters() {
        return map(vm.queryParameters());
    }

    @Override
    public CompletionStage<JsonNode> migrateSetCapabilities(ObjectNode args) {
        Map<String, Boolean> caps = new java.util.LinkedHashMap<>();
        for (JsonNode c : args.path("capabilities")) {
            caps.put(c.path("capability").asText(), c.path("state").asBoolean());
        }
        // the flag changes before the reply leaves, so a migrate sent after it sees the new state
        return map(vm.setCapabilities(caps).thenApply(v -> {
            Boolean events = caps.get("events");
            if (events != null) {
                migrationEvents = events;
            }
            return v;
        }));
    }

    /**
     * Whether MIGRATION and MIGRATION_PASS events reach QMP clients: QEMU emits them only with the
     * {@code events} capability on (migrate_set_state / migration_bitmap_sync check migrate_use_events()).
     */
    public boolean migrationEvents() {
        return migrationEvents;
    }

    /** The capability state the endpoint reports when the frontend starts (an embedder may have set it). */
    void initMigrationEvents(JsonNode queryCapabilities) {
        for (JsonNode c : queryCapabilities) {
            if (c.path("capability").asText().equals("events")) {
                migrationEvents = c.path("state").asBoolean(false);
            }
        }
    }

    @Override
    public CompletionStage<JsonNode> queryMigrateCapabilities() {
        return map(vm.queryCapabilities());
    }

    /**
     * {@code exit-on-error} (QEMU >= 9.1, default true): once the incoming migration fails, the VM
     * endpoint ends after its cleanup (in {@code livetap vmm} the process exits 1 with its last VM,
     * as QEMU's does); false: it stays with status {@code failed}.
     */
    @Override
    public CompletionStage<JsonNode> migrateIncoming(ObjectNode args) {
        boolean exitOnError = args.path("exit-on-error").asBoolean(true);
        // armed before the reply leaves: the failure's event may follow the reply at once
        return map(vm.migrateIncoming(args.get("uri").textValue()).thenApply(v -> {
            exitOnIncomingError = exitOnError;
            return v;
        }));
    }

    /**
     * Called with each MIGRATION status of this endpoint, in order: true when it is the failure of an
     * incoming migration started with {@code exit-on-error} on (once; the end of that migration disarms it).
     */
    boolean incomingFailedWithExit(String status) {
        if (!exitOnIncomingError || !(status.equals("failed") || status.equals("completed"))) {
            return false;
        }
        exitOnIncomingError = false;
        return status.equals("failed");
    }

    @Override
    public CompletionStage<JsonNode> migrate(ObjectNode args) {
        if (args.path("resume").asBoolean(false)) {
            return CompletableFuture.failedFuture(QmpException.generic(
                    "migrate resume=true is for postcopy recovery, which livetap does not model"));
        }
        return map(vm.migrate(args.get("uri").textValue()));
    }

    /**
     * {@code fd:NAME} (libvirt's form): the descriptor NAME is taken out of the session (QEMU's
     * monitor_get_fd) and passed with the command; the VM checks it is an AF_UNIX stream socket.
     */
    @Override
    public CompletionStage<JsonNode> migrate(ObjectNode args, QmpSession session) {
        String uri = args.get("uri").textValue();
        if (!uri.startsWith("fd:") || uri.length() == 3 || args.path("resume").asBoolean(false)) {
            return migrate(args);
        }
        String name = uri.substring(3);
        OwnedFd socket;
        try {
            if (Character.isDigit(name.charAt(0))) {
                throw QmpException.generic("livetap takes descriptors only by the name given with getfd; got fd:" + name);
            }
            socket = session.takeFd(name); // an unknown name fails with QEMU's text
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        return map(vm.migrate(uri, socket));
    }

    @Override
    public CompletionStage<JsonNode> migrateCancel() {
        return map(vm.cancel());
    }

    @Override
    public CompletionStage<JsonNode> migrateContinue(String state) {
        return map(vm.migrateContinue(state));
    }

    @Override
    public CompletionStage<JsonNode> queryMigrate() {
        return map(vm.query().thenApply(MigrationInfo::toQmp));
    }

    @Override
    public CompletionStage<JsonNode> queryStatus() {
        return map(vm.status());
    }

    @Override
    public CompletionStage<JsonNode> stop() {
        return map(vm.stop());
    }

    @Override
    public CompletionStage<JsonNode> cont() {
        return map(vm.cont());
    }

    @Override
    public void quit() {
        onQuit.run();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> toMap(ObjectNode args) {
        return JSON.convertValue(args, Map.class);
    }

    /** Java value (maps, lists, records, null) to QMP JSON. */
    public static JsonNode toJson(Object value) {
        if (value == null) {
            return JSON.createObjectNode();
        }
        return JSON.valueToTree(value);
    }

    private static CompletionStage<JsonNode> map(CompletionStage<?> stage) {
        CompletableFuture<JsonNode> out = new CompletableFuture<>();
        stage.whenComplete((v, e) -> complete(out, v, e));
        return out;
    }

    private static void complete(CompletableFuture<JsonNode> out, Object v, Throwable e) {
        if (e == null) {
            out.complete(toJson(v));
            return;
        }
        LivetapException l = LivetapException.unwrap(e);
        if (l == null) {
            out.completeExceptionally(QmpException.generic(String.valueOf(e.getMessage())));
            return;
        }
        QmpErrorClass cls;
        try {
            cls = QmpErrorClass.valueOf(l.errorClass());
        } catch (IllegalArgumentException unknown) {
            cls = QmpErrorClass.GenericError;
        }
        out.completeExceptionally(new QmpException(cls, l.desc()));
    }
}
