package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.concurrent.CompletionStage;

/**
 * The VM-facing commands a QMP server forwards to one VM endpoint. Arguments arrive validated
 * against the schemas in {@link QmpVmCommands} (QEMU's QAPI types); option semantics and their
 * errors belong to the endpoint. Each method is called on the session's thread and must not
 * block: answer with a stage that an actor completes later. Fail with {@link QmpException} for
 * a QMP error class other than GenericError (e.g. {@link QmpException#deviceNotFound}).
 * fd names ({@code netdev_add fd=NAME}, {@code fds=A:B}) are resolved with
 * {@link QmpSession#takeFd(String)} before the method returns.
 */
public interface VmCommandHandler {
    CompletionStage<JsonNode> netdevAdd(ObjectNode args, QmpSession session);

    CompletionStage<JsonNode> netdevDel(String id);

    /** {@code driver}, {@code id}, {@code netdev}, {@code mac} are typed; other properties pass unchecked. */
    CompletionStage<JsonNode> deviceAdd(ObjectNode args, QmpSession session);

    CompletionStage<JsonNode> deviceDel(String id);

    CompletionStage<JsonNode> migrateSetParameters(ObjectNode args);

    CompletionStage<JsonNode> queryMigrateParameters();

    /** {@code capabilities}: [{"capability": name, "state": bool}, ...]. */
    CompletionStage<JsonNode> migrateSetCapabilities(ObjectNode args);

    CompletionStage<JsonNode> queryMigrateCapabilities();

    CompletionStage<JsonNode> migrateIncoming(ObjectNode args);

    CompletionStage<JsonNode> migrate(ObjectNode args);

    /** {@code migrate} with the session, whose {@code getfd} descriptors an {@code fd:NAME} URI names. */
    default CompletionStage<JsonNode> migrate(ObjectNode args, QmpSession session) {
        return migrate(args);
    }

    CompletionStage<JsonNode> migrateCancel();

    /** {@code state}: a QEMU MigrationStatus name (schema-checked). */
    CompletionStage<JsonNode> migrateContinue(String state);

    CompletionStage<JsonNode> queryMigrate();

    CompletionStage<JsonNode> queryStatus();

    CompletionStage<JsonNode> stop();

    CompletionStage<JsonNode> cont();

    /** Called after the reply {@code {}} to {@code quit} has been sent. */
    void quit();
}
