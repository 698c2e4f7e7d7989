package dev.livetap.testbed.oracle;

import static dev.livetap.testbed.oracle.Scenario.uri;

import dev.livetap.engine.qmp.QmpJson;
import java.time.Duration;
import java.util.List;

/**
 * The differential suite's scenarios, in the order of issue 14's list. Roles: "vm" (one VMM),
 * "source" and "target". Migration sockets live in the scenario's directory ({@code {dir}}).
 */
public final class Scenarios {
    static final String MIGRATION_SOCKET = "unix:{dir}/migration.sock";
    private static final String[] END = {"completed", "failed", "cancelled"};

    private Scenarios() { }

    public static List<Scenario> all() {
        return List.of(
                success(),
                sourcePausedBeforeMigrate(),
                Scenario.named("migrate-missing-socket", "migrate to a unix: socket nobody listens on")
                        .start("vm").eventsOn("vm")
                        .qmp("vm", "migrate", uri("unix:{dir}/nobody.sock"))
                        .awaitMigration("vm", END)
                        .build(),
                Scenario.named("migrate-events-off", "migrate to a missing socket with the events capability off")
                        .start("vm")
                        .qmp("vm", "migrate", uri("unix:{dir}/nobody.sock"))
                        .awaitMigration("vm", END)
                        .build(),
                Scenario.named("migrate-incoming-twice", "migrate-incoming on a target that already listens")
                        .startIncoming("target").eventsOn("target")
                        .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                        .qmpText("target", "migrate-incoming", uri("unix:{dir}/second.sock"))
                        .build(),
                Scenario.named("migrate-incoming-bind-error", "migrate-incoming to a socket in a missing directory, then to a good one")
                        .startIncoming("target").eventsOn("target")
                        .qmpText("target", "migrate-incoming", uri("unix:{dir}/missing-dir/x.sock"))
                        .qmp("target", "query-migrate")
                        .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                        .build(),
                Scenario.named("migrate-incoming-without-incoming", "migrate-incoming on a VMM started without -incoming")
                        .start("vm")
                        .qmpText("vm", "migrate-incoming", uri(MIGRATION_SOCKET))
                        .build(),
                Scenario.named("stop-cont-running", "stop and cont from running, each twice")
                        .start("vm")
                        .qmp("vm", "stop").qmp("vm", "stop").qmp("vm", "cont").qmp("vm", "cont")
                        .build(),
                Scenario.named("stop-cont-prelaunch", "a VMM started paused (-S / --paused): cont, stop, cont")
                        .startPaused("vm")
                        .qmp("vm", "stop").qmp("vm", "cont").qmp("vm", "stop").qmp("vm", "cont")
                        .build(),
                Scenario.named("stop-cont-inmigrate", "stop and cont on a target waiting for its incoming migration")
                        .startIncoming("target")
                        .qmp("target", "cont").qmp("target", "stop").qmp("target", "cont")
                        .build(),
                contAfterCompleted(),
                Scenario.named("getfd-closefd", "getfd with a socket, closefd twice, getfd without an fd")
                        .start("vm")
                        .getfd("vm", "fd0", null)
                        .qmpText("vm", "closefd", QmpJson.object().put("fdname", "fd0"))
                        .qmpText("vm", "closefd", QmpJson.object().put("fdname", "fd0"))
                        .qmpText("vm", "getfd", QmpJson.object().put("fdname", "fd1"))
                        .build(),
                Scenario.named("libvirt-probe", "the queries libvirt sends to learn what a QEMU offers")
                        .start("vm")
                        .qmp("vm", "query-version").qmp("vm", "query-name").qmp("vm", "query-qmp-schema")
                        .qmp("vm", "query-commands").qmp("vm", "query-migrate").qmp("vm", "query-migrate-capabilities")
                        .qmp("vm", "query-migrate-parameters")
                        .build(),
                netdevDevice(),
                Scenario.named("fd-uri", "migrate fd:NAME where NAME is an AF_UNIX socket connected to the target (libvirt's form)")
                        .startIncoming("target").start("source").eventsOn("target").eventsOn("source")
                        .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                        .getfd("source", "migfd", "{dir}/migration.sock")
                        .qmpText("source", "migrate", uri("fd:migfd"))
                        .awaitMigration("source", END)
                        .awaitMigration("target", END)
                        .build(),
                cancelWhileHeld(),
                targetKilledWhileHeld(),
                sourceKilledWhileHeld(),
                exitOnError(true),
                exitOnError(false));
    }

    /**
     * Source and target with events on, the source with {@code pause-before-switchover}, target
     * listening, {@code migrate}, then held: the source stops and waits in {@code pre-switchover} for
     * {@code migrate-continue} (the bounded wait makes the kill and cancel scenarios independent of timing).
     */
    private static Scenario.Builder held(String name, String about) {
        return Scenario.named(name, about)
                .startIncoming("target").start("source").eventsOn("target").eventsOn("source")
                .capabilityOn("source", "pause-before-switchover")
                .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                .qmp("source", "migrate", uri(MIGRATION_SOCKET))
                .awaitMigration("source", "pre-switchover", "completed", "failed", "cancelled");
    }

    static Scenario cancelWhileHeld() {
        return held("cancel-during-active", "migrate_cancel while the migration is held (pause-before-switchover)")
                .qmp("source", "migrate_cancel")
                .awaitMigration("source", END)
                .awaitMigration("target", END)
                .awaitExit("target", Duration.ofSeconds(20)) // returns at the exit; the bound only covers a loaded machine
                .build();
    }

    static Scenario targetKilledWhileHeld() {
        return held("target-killed-during-active", "the target is killed while the migration is held, then migrate-continue")
                .kill("target")
                .awaitMigration("source", "pre-switchover", "completed", "failed", "cancelled")
                .qmpText("source", "migrate-continue", QmpJson.object().put("state", "pre-switchover"))
                .awaitMigration("source", END)
                .build();
    }

    static Scenario sourceKilledWhileHeld() {
        return held("source-killed-during-active", "the source is killed while the migration is held")
                .kill("source")
                .awaitMigration("target", END)
                .awaitExit("target", Duration.ofSeconds(20)) // returns at the exit; the bound only covers a loaded machine
                .build();
    }

    /**
     * {@code migrate-incoming} with {@code exit-on-error} (QEMU >= 9.1; the oracle's 7.2 has none), then a
     * peer that connects and goes away before the stream's header: livetap only, against what QEMU's
     * source gives (qemu/qemu dbea1c89dad3 "qapi: introduce exit-on-error parameter for migrate-incoming",
     * migration/migration.c: process_incoming_migration_co() sets the incoming state setup → active
     * before qemu_loadvm_state(); its fail: label sets active → failed (a MIGRATION event), records the
     * error for query-migrate's error-desc, then exit(EXIT_FAILURE) only if mis->exit_on_error, which
     * defaults to true, INMIGRATE_DEFAULT_EXIT_ON_ERROR).
     */
    static Scenario exitOnError(boolean exits) {
        String name = "migrate-incoming-exit-on-error-" + exits;
        Scenario.Builder b = Scenario.named(name, "exit-on-error " + exits + ": a failed incoming migration "
                        + (exits ? "ends the target (exit 1)" : "leaves the target with status failed"))
                .startIncoming("target").eventsOn("target")
                .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET).put("exit-on-error", exits))
                .connectAndClose("target", "{dir}/migration.sock");
        if (exits) {
            b.awaitExit("target", Duration.ofSeconds(10));
        } else {
            b.awaitMigration("target", END).qmp("target", "query-status");
        }
        java.util.Map<String, String> expected = new java.util.LinkedHashMap<>();
        expected.put("03 target migrate-incoming", "return {}");
        expected.put("03 target migrate-incoming order", "MIGRATION:setup reply");
        if (exits) {
            expected.put("05 target exit", "exited 1");
            expected.put("end target MIGRATION", "setup active failed");
            expected.put("end target process", "exited 1");
        } else {
            expected.put("05 target migration", "failed");
            expected.put("06 target query-status", "return {…}");
            expected.put("06 target status", "inmigrate running=false");
            expected.put("end target MIGRATION", "setup active failed");
            expected.put("end target process", "alive");
        }
        return b.only(Flavor.LIVETAP).expected(expected, "qemu/qemu dbea1c89dad3 \"qapi: introduce exit-on-error parameter for"
                + " migrate-incoming\" (QEMU 9.1), migration/migration.c process_incoming_migration_co(): setup -> active before"
                + " qemu_loadvm_state(); fail: active -> failed, migrate_set_error(), exit(EXIT_FAILURE) iff exit_on_error"
                + " (default true)").build();
    }

    /**
     * A TAP netdev by ifname (inside the VMM's private namespace; libvirt would pass fds of a TAP it
     * opened itself, which needs a TAP in the test's own namespace) and a virtio-net NIC on the hot-plug
     * root port with the properties libvirt passes (bus, addr, mac, id), then both removed.
     */
    static Scenario netdevDevice() {
        return Scenario.named("netdev-device", "netdev_add tap + device_add virtio-net-pci (libvirt's properties), del both")
                .start("vm")
                .qmpText("vm", "netdev_add", QmpJson.object().put("type", "tap").put("id", "hostnet0").put("ifname", "tap0")
                        .put("script", "no").put("downscript", "no"))
                .qmpText("vm", "netdev_add", QmpJson.object().put("type", "tap").put("id", "hostnet0").put("ifname", "tap1")
                        .put("script", "no").put("downscript", "no"))
                .qmpText("vm", "device_add", QmpJson.object().put("driver", "virtio-net-pci").put("netdev", "hostnet0")
                        .put("id", "net0").put("mac", "52:54:00:12:34:56").put("bus", "rp0").put("addr", "0x0"))
                .qmpText("vm", "device_del", QmpJson.object().put("id", "net0"))
                .qmpText("vm", "netdev_del", QmpJson.object().put("id", "hostnet0"))
                .qmpText("vm", "netdev_del", QmpJson.object().put("id", "hostnet0"))
                .build();
    }

    static Scenario success() {
        return Scenario.named("success", "source running, target -incoming defer, events on, migrate unix:")
                .startIncoming("target").start("source").eventsOn("target").eventsOn("source")
                .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                .qmp("source", "migrate", uri(MIGRATION_SOCKET))
                .awaitMigration("source", END)
                .awaitMigration("target", END)
                .build();
    }

    static Scenario sourcePausedBeforeMigrate() {
        return Scenario.named("source-paused", "the source is stopped before migrate; the run state travels")
                .startIncoming("target").start("source").eventsOn("target").eventsOn("source")
                .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                .qmp("source", "stop")
                .qmp("source", "migrate", uri(MIGRATION_SOCKET))
                .awaitMigration("source", END)
                .awaitMigration("target", END)
                .build();
    }

    static Scenario contAfterCompleted() {
        return Scenario.named("cont-postmigrate", "after a completed migration (no NIC): cont and stop on both sides")
                .startIncoming("target").start("source").eventsOn("target").eventsOn("source")
                .qmp("target", "migrate-incoming", uri(MIGRATION_SOCKET))
                .qmp("source", "migrate", uri(MIGRATION_SOCKET))
                .awaitMigration("source", END)
                .awaitMigration("target", END)
                .qmp("source", "cont")
                .qmp("source", "stop")
                .qmp("target", "stop")
                .qmp("target", "cont")
                .awaitExit("source", Duration.ofMillis(300))
                .build();
    }
}
