package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** A VM backend that records every forwarded call and answers {} (or a canned failure). */
final class RecordingVmBackend implements VmCommandHandler {
    record Call(String command, JsonNode args) {
    }

    final List<Call> calls = Collections.synchronizedList(new ArrayList<>());
    /** fds taken by netdev_add fd=NAME / fds=A:B, in order, so tests can account for them. */
    final List<dev.livetap.nativeio.OwnedFd> takenFds = new ArrayList<>();
    volatile boolean quitCalled;

    private CompletionStage<JsonNode> record(String command, JsonNode args) {
        calls.add(new Call(command, args == null ? QmpJson.object() : args.deepCopy()));
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<JsonNode> netdevAdd(ObjectNode args, QmpSession session) {
        JsonNode fd = args.get("fd");
        if (fd != null) {
            takenFds.add(session.takeFd(fd.textValue()));
        }
        JsonNode fds = args.get("fds");
        if (fds != null) {
            for (String name : fds.textValue().split(":")) {
                takenFds.add(session.takeFd(name));
            }
        }
        return record("netdev_add", args);
    }

    @Override
    public CompletionStage<JsonNode> netdevDel(String id) {
        if (id.equals("missing")) {
            return CompletableFuture.failedFuture(QmpException.deviceNotFound(id));
        }
        return record("netdev_del", QmpJson.object().put("id", id));
    }

    @Override
    public CompletionStage<JsonNode> deviceAdd(ObjectNode args, QmpSession session) {
        return record("device_add", args);
    }

    @Override
    public CompletionStage<JsonNode> deviceDel(String id) {
        if (id.equals("inactive")) {
            throw QmpException.deviceNotActive("Device 'inactive' has not been activated");
        }
        return record("device_del", QmpJson.object().put("id", id));
    }

    @Override
    public CompletionStage<JsonNode> migrateSetParameters(ObjectNode args) {
        return record("migrate-set-parameters", args);
    }

    @Override
    public CompletionStage<JsonNode> queryMigrateParameters() {
        record("query-migrate-parameters", null);
        return CompletableFuture.completedFuture(QmpJson.object().put("local", false).put("downtime-limit", 300));
    }

    @Override
    public CompletionStage<JsonNode> migrateSetCapabilities(ObjectNode args) {
        return record("migrate-set-capabilities", args);
    }

    @Override
    public CompletionStage<JsonNode> migrateContinue(String state) {
        return record("migrate-continue", QmpJson.object().put("state", state));
    }

    @Override
    public CompletionStage<JsonNode> queryMigrateCapabilities() {
        return record("query-migrate-capabilities", null);
    }

    @Override
    public CompletionStage<JsonNode> migrateIncoming(ObjectNode args) {
        return record("migrate-incoming", args);
    }

    @Override
    public CompletionStage<JsonNode> migrate(ObjectNode args) {
        return record("migrate", args);
    }

    @Override
    public CompletionStage<JsonNode> migrateCancel() {
        return record("migrate_cancel", null);
    }

    @Override
    public CompletionStage<JsonNode> queryMigrate() {
        record("query-migrate", null);
        return CompletableFuture.completedFuture(QmpJson.object().put("status", "none"));
    }

    @Override
    public CompletionStage<JsonNode> queryStatus() {
        record("query-status", null);
        return CompletableFuture.completedFuture(QmpJson.object().put("running", true).put("status", "running"));
    }

    @Override
    public CompletionStage<JsonNode> stop() {
        return record("stop", null);
    }

    @Override
    public CompletionStage<JsonNode> cont() {
        return record("cont", null);
    }

    @Override
    public void quit() {
        quitCalled = true;
        calls.add(new Call("quit", QmpJson.object()));
    }
}
