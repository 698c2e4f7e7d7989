package dev.livetap.engine.qmp;

import static dev.livetap.engine.qmp.QmpArg.optional;
import static dev.livetap.engine.qmp.QmpArg.required;
import static dev.livetap.engine.qmp.QmpType.BOOL;
import static dev.livetap.engine.qmp.QmpType.INT;
import static dev.livetap.engine.qmp.QmpType.STR;

import java.util.List;

/**
 * Registers the {@link VmCommandHandler} commands with argument schemas after QEMU's QAPI schema.
 * Deliberate narrowings, documented in docs/qmp.md: {@code netdev_add} knows only {@code type:
 * "tap"}; {@code migrate} and {@code migrate-incoming} take {@code uri} only (the
 * {@code channels} form is refused as an unexpected parameter); {@code migrate-set-parameters}
 * knows the parameters livetap models.
 */
public final class QmpVmCommands {
    /**
     * NetdevTapOptions (qapi/net.json) plus the live-TAP series' {@code incoming-fds} and v17
     * {@code local-migration-supported}, and livetap's {@code x-downscript-duty}.
     */
    public static final List<QmpArg> NETDEV_ADD = List.of(
            QmpArg.enumOf("type", true, "tap"),
            required("id", STR),
            optional("ifname", STR),
            optional("fd", STR),
            optional("fds", STR),
            optional("script", STR),
            optional("downscript", STR),
            optional("br", STR),
            optional("helper", STR),
            optional("sndbuf", INT),
            optional("vnet_hdr", BOOL),
            optional("vhost", BOOL),
            optional("vhostfd", STR),
            optional("vhostfds", STR),
            optional("vhostforce", BOOL),
            optional("queues", INT),
            optional("poll-us", INT),
            optional("incoming-fds", BOOL),
            optional("local-migration-supported", BOOL),
            optional("x-downscript-duty", BOOL));

    /** device_add: declared members are typed, every other property is passed on. */
    public static final List<QmpArg> DEVICE_ADD = List.of(
            required("driver", STR),
            optional("bus", STR),
            optional("id", STR),
            optional("netdev", STR),
            optional("mac", STR));

    /** MigrateSetParameters members livetap models ({@code backend-transfer} is the v10 alias of {@code local}). */
    public static final List<QmpArg> MIGRATE_SET_PARAMETERS = List.of(
            optional("local", BOOL),
            optional("backend-transfer", BOOL),
            optional("x-switchover-limit", INT),
            optional("x-stream-format", INT),
            optional("downtime-limit", INT),
            optional("max-bandwidth", INT),
            optional("avail-switchover-bandwidth", INT),
            optional("announce-initial", INT),
            optional("announce-max", INT),
            optional("announce-rounds", INT),
            optional("announce-step", INT));

    /** MigrationCapability (qapi/migration.json). */
    public static final List<String> MIGRATION_CAPABILITIES = List.of(
            "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "events", "postcopy-ram",
            "x-colo", "release-ram", "return-path", "pause-before-switchover", "multifd",
            "dirty-bitmaps", "postcopy-blocktime", "late-block-activate", "x-ignore-shared",
            "validate-uuid", "background-snapshot", "zero-copy-send", "postcopy-preempt",
            "switchover-ack", "dirty-limit", "mapped-ram");

    /** MigrationStatus (qapi/migration.json, QEMU 7.2), the type of {@code migrate-continue}'s {@code state}. */
    public static final List<String> MIGRATION_STATUSES = List.of(
            "none", "setup", "cancelling", "cancelled", "active", "postcopy-active", "postcopy-paused",
            "postcopy-recover", "completed", "failed", "colo", "pre-switchover", "device", "wait-unplug");

    private QmpVmCommands() {
    }

    /** Registers the 17 VM commands (including {@code quit}) that forward to {@code vm}. */
    public static QmpCommandRegistry register(QmpCommandRegistry registry, VmCommandHandler vm) {
        registry.register(QmpCommand.builder("netdev_add").args(NETDEV_ADD.toArray(QmpArg[]::new))
                .handler((a, f, s) -> vm.netdevAdd(a, s)));
        registry.register(QmpCommand.builder("netdev_del").arg(required("id", STR))
                .handler((a, f, s) -> vm.netdevDel(a.get("id").textValue())));
        registry.register(QmpCommand.builder("device_add").args(DEVICE_ADD.toArray(QmpArg[]::new)).extraArgs()
                .handler((a, f, s) -> vm.deviceAdd(a, s)));
        registry.register(QmpCommand.builder("device_del").arg(required("id", STR))
                .handler((a, f, s) -> vm.deviceDel(a.get("id").textValue())));
        registry.register(QmpCommand.builder("migrate-set-parameters").args(MIGRATE_SET_PARAMETERS.toArray(QmpArg[]::new))
                .handler((a, f, s) -> vm.migrateSetParameters(a)));
        registry.register(QmpCommand.builder("query-migrate-parameters")
                .handler((a, f, s) -> vm.queryMigrateParameters()));
        registry.register(QmpCommand.builder("migrate-set-capabilities")
                .arg(QmpArg.arrayOfObjects("capabilities", true,
                        QmpArg.enumOf("capability", true, MIGRATION_CAPABILITIES.toArray(String[]::new)),
                        required("state", BOOL)))
                .handler((a, f, s) -> vm.migrateSetCapabilities(a)));
        registry.register(QmpCommand.builder("query-migrate-capabilities")
                .handler((a, f, s) -> vm.queryMigrateCapabilities()));
        registry.register(QmpCommand.builder("migrate-incoming")
                .args(required("uri", STR), optional("exit-on-error", BOOL))
                .handler((a, f, s) -> vm.migrateIncoming(a)));
        registry.register(QmpCommand.builder("migrate")
                .args(required("uri", STR), optional("detach", BOOL), optional("resume", BOOL))
                .handler((a, f, s) -> vm.migrate(a, s)));
        registry.register(QmpCommand.builder("migrate_cancel").handler((a, f, s) -> vm.migrateCancel()));
        registry.register(QmpCommand.builder("migrate-continue")
                .arg(QmpArg.enumOf("state", true, MIGRATION_STATUSES.toArray(String[]::new)))
                .handler((a, f, s) -> vm.migrateContinue(a.get("state").textValue())));
        registry.register(QmpCommand.builder("query-migrate").handler((a, f, s) -> vm.queryMigrate()));
        registry.register(QmpCommand.builder("query-status").handler((a, f, s) -> vm.queryStatus()));
        registry.register(QmpCommand.builder("stop").handler((a, f, s) -> vm.stop()));
        registry.register(QmpCommand.builder("cont").handler((a, f, s) -> vm.cont()));
        QmpBuiltins.registerQuit(registry, vm::quit);
        return registry;
    }
}
