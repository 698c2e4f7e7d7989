package dev.livetap.actors.vm;

import dev.livetap.actors.migration.MigrationCoordinator;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetRealizeCheck;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The {@link VmActor}'s side of a migration: starting one (a {@link MigrationCoordinator} child per
 * migration) and what its reports do to the VM's state. A refusal is an {@link OptionException}
 * with the text a client sees, and changes nothing.
 */
final class VmMigrations {
    private VmMigrations() {
    }

    static VmState migrateIncoming(VmActor.Env e, VmState s, VmActor.MigrateIncoming m) {
        if (s.coordinator().isPresent() || s.lastInfo().status() == MigrationStatus.COMPLETED) {
            throw new OptionException("The incoming migration has already been started");
        }
        MigrationUri.Unix uri = unixOnly(MigrationUri.parse(m.uri()));
        String id = migrationId(e, s);
        // QEMU (qemu_start_incoming_migration) announces setup before it binds, whether or not the bind works
        VmActor.emit(e, s, VmEvent.MIGRATION, Map.of("status", MigrationStatus.SETUP.qmpName()));
        // QEMU binds in qmp_migrate_incoming: the reply means "listening", a bind error is the reply
        // and leaves nothing started (a later migrate-incoming may try again)
        CompletableFuture<FrameChannel> accepting = e.config().transport().acceptOne(uri).toCompletableFuture();
        if (accepting.isCompletedExceptionally()) {
            throw new OptionException(listenFailure(uri, accepting));
        }
        List<MigrationCoordinator.Nic> list = new ArrayList<>();
        // the target's own switches, read as QEMU's pre-incoming point reads them (semantic 1)
        s.devices().nicList().forEach(n -> list.add(new MigrationCoordinator.Nic(n.deviceId(), n.ref(), n.peersWaitIncoming(),
                n.peersWaitIncoming() ? VirtioNetRealizeCheck.incomingBackendRefusal(n.deviceId(), s.parameters(), n.options(),
                        s.devices().netdev(n.options().netdev()).orElseThrow().options(), e.config().machine())
                        : Optional.empty())));
        ActorRef<MigrationCoordinator.Command> c = e.ctx().spawn(e.config().tracer().trace(id, MigrationCoordinator.target(
                new MigrationCoordinator.TargetSetup(id, uri, list, accepting, e.config().os().clock(),
                        e.config().timeouts()), e.reportAdapter())), id, VmActor.DISPATCHER);
        e.ctx().watch(c);
        // setup is announced above: the coordinator's own setup report must not repeat it
        VmState started = s.withMigrationStarted(c, false, MigrationInfo.starting(id)) // query-migrate: see migrate
                .withLastAnnounced(id + "/" + MigrationStatus.SETUP.qmpName());
        m.replyTo().tell(VmActor.DONE);
        return started;
    }

    /**
     * @param migratableHere whether this run state may migrate out
     * A refusal closes the socket an {@code fd:} URI came with.
     */
    static VmState migrate(VmActor.Env e, VmState s, VmActor.Migrate m, boolean migratableHere) {
        try {
            return migrateChecked(e, s, m, migratableHere);
        } catch (RuntimeException ex) {
            m.socket().ifPresent(OwnedFd::close);
            throw ex;
        }
    }

    private static VmState migrateChecked(VmActor.Env e, VmState s, VmActor.Migrate m, boolean migratableHere) {
        MigrationUri uri = MigrationUri.parse(m.uri());
        if (uri instanceof MigrationUri.Fd fd) {
            // libvirt's form: a connected socket passed with getfd; only an AF_UNIX stream socket carries fds
            if (m.socket().isEmpty()) {
                throw new OptionException("File descriptor named '" + fd.name() + "' has not been found");
            }
            if (!e.config().os().unix().isUnixStreamSocket(m.socket().get())) {
                throw new OptionException("livetap migrates only over UNIX stream sockets: the descriptor '" + fd.name()
                        + "' is not an AF_UNIX SOCK_STREAM socket");
            }
        } else {
            MigrationUri.requireChannelFor(s.parameters(), uri); // semantic 1: fails at once, nothing changes
            unixOnly(uri);
            if (m.socket().isPresent()) {
                throw new OptionException("a descriptor came with a " + uri.uri() + " URI; only fd: takes one");
            }
        }
        if (s.coordinator().isPresent()) {
            throw new OptionException("There's a migration process in progress");
        }
        if (!migratableHere) {
            throw new OptionException("cannot migrate in run state " + s.runState().qmpName());
        }
        VmActor.VmConfig config = e.config();
        String id = migrationId(e, s);
        List<MigrationCoordinator.Nic> list = new ArrayList<>();
        s.devices().nicList().forEach(n -> list.add(new MigrationCoordinator.Nic(n.deviceId(), n.ref(),
                backendTravels(e, s, n))));
        StreamHeader header = StreamHeader.of(config.pid(), config.name(), config.machine().name())
                .atFormat(s.parameters().streamFormat()); // x-stream-format: the previous format for a rollback
        ActorRef<MigrationCoordinator.Command> c = e.ctx().spawn(config.tracer().trace(id, MigrationCoordinator.source(
                new MigrationCoordinator.SourceSetup(id, uri, s.parameters(), list, header, config.transport(),
                        config.os().clock(), config.timeouts(),
                        s.capabilities().isOn(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER),
                        s.runState() == RunState.RUNNING, m.socket()),
                e.reportAdapter())), id, VmActor.DISPATCHER);
        e.ctx().watch(c);
        // QEMU announces setup before the reply (qmp_migrate → migrate_init, then migrate_set_state to setup)
        VmState started = emitMigrationStatus(e, s.withMigrationStarted(c, true, MigrationInfo.starting(id)),
                MigrationInfo.starting(id));
        m.replyTo().tell(VmActor.DONE);
        // From the reply on, query-migrate describes this migration (status setup), as QEMU's does: the
        // coordinator's first report comes a moment later, and until then a client polling right after
        // 'migrate' read the previous migration's final status and took it for this one's (the cause of
        // the unmeasured hops in the end-to-end test and the demo).
        return started;
    }

    /**
     * QEMU's socket_listen_unix text, {@code Failed to bind socket to PATH: STRERROR} when a system
     * call failed (the errno's meaning, as QEMU's error_setg_errno), else with the transport's reason.
     */
    private static String listenFailure(MigrationUri.Unix uri, CompletableFuture<FrameChannel> failed) {
        Throwable cause;
        try {
            failed.join();
            cause = null;
        } catch (CompletionException ex) {
            cause = ex.getCause() == null ? ex : ex.getCause();
        }
        String reason = cause == null ? "unknown error" : cause.getMessage();
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof NativeException n) {
                Matcher errno = STRERROR.matcher(String.valueOf(n.getMessage()));
                reason = errno.find() ? errno.group(1) : reason;
            }
        }
        return "Failed to bind socket to " + uri.path() + ": " + reason;
    }

    /** The native layer's message ends with "(ENAME: strerror)". */
    private static final Pattern STRERROR = Pattern.compile("\\(E[A-Z0-9]+: ([^)]+)\\)$");

    private static MigrationUri.Unix unixOnly(MigrationUri uri) {
        if (uri instanceof MigrationUri.Unix u) {
            return u;
        }
        throw new OptionException("livetap migrates only over UNIX sockets (unix:PATH); got " + uri.uri());
    }

    /** Semantic 1, in the form of the NIC's netdev (the seed's v10 or the series' v17). */
    private static boolean backendTravels(VmActor.Env e, VmState s, DeviceTable.Nic n) {
        TapNetdevOptions netdev = s.devices().netdev(n.options().netdev()).orElseThrow().options();
        return VirtioNetRealizeCheck.backendTravels(s.parameters(), n.options(), netdev, e.config().machine());
    }

    /** The name of the migration this VM starts next. */
    private static String migrationId(VmActor.Env e, VmState s) {
        return "migration-" + e.config().name() + "-" + (s.migrations() + 1);
    }

    static VmState onReport(VmActor.Env e, VmState s, MigrationCoordinator.Report r) {
        if (r instanceof MigrationCoordinator.Progress p) {
            VmState next = s.withLastInfo(p.info());
            // A final status is announced with Finished, once this actor no longer counts the
            // migration as running: a client reacting to the event may migrate or unplug at once.
            return p.info().status().isFinal() ? next : emitMigrationStatus(e, next, p.info());
        }
        if (r instanceof MigrationCoordinator.RunStateChange c) {
            // the source's switch-over: whether it ran decides what a failure brings it back to
            VmState next = c.state() == RunState.FINISH_MIGRATE ? s.withAutostart(s.runState() == RunState.RUNNING) : s;
            return VmActor.changeRunState(e, next, c.state());
        }
        MigrationCoordinator.Finished f = (MigrationCoordinator.Finished) r;
        VmState next = VmActor.answerWaitingCancels(s.withLastInfo(f.info()).withoutCoordinator());
        if (f.succeeded()) {
            next = migrated(e, next, f);
        }
        // QEMU (migration_iteration_finish): a source that was running when it stopped resumes by
        // itself after a failure or cancel; one that was paused stays paused. A failure is announced
        // first (the migration thread set it), a cancel after the resume (cancelling becomes cancelled
        // in the cleanup that follows migration_iteration_finish)
        boolean resumes = !f.succeeded() && next.outgoing() && next.runState() == RunState.PAUSED && next.autostart();
        if (resumes && f.info().status() == MigrationStatus.CANCELLED) {
            return VmNicGathers.startNics(e, next, new VmState.StartVm(false, Optional.empty(), Optional.of(f.info())),
                    f.info().migrationId());
        }
        next = emitMigrationStatus(e, next, f.info());
        if (resumes) {
            next = VmNicGathers.startNics(e, next, false, Optional.empty(), f.info().migrationId());
        }
        return next;
    }

    /** One MIGRATION event per (migration, status). */
    static VmState emitMigrationStatus(VmActor.Env e, VmState s, MigrationInfo info) {
        String key = info.migrationId() + "/" + info.status().qmpName();
        if (key.equals(s.lastAnnounced())) {
            return s;
        }
        VmActor.emit(e, s, VmEvent.MIGRATION, Map.of("status", info.status().qmpName()));
        return s.withLastAnnounced(key);
    }

    private static VmState migrated(VmActor.Env e, VmState s, MigrationCoordinator.Finished f) {
        DeviceTable devices = s.devices();
        if (s.outgoing()) {
            // the duty passes to the target with 'loaded', for the netdevs whose backend travelled
            if (f.backendHandedOver()) {
                for (DeviceTable.Nic n : devices.nicList()) {
                    if (backendTravels(e, s, n)) {
                        devices = devices.updateNetdev(n.options().netdev(), d -> d.withDuty(false)).withNic(n.withBackendGone());
                    }
                }
            }
            return s.withDevices(devices);
        }
        for (DeviceTable.Nic n : devices.nicList()) {
            if (n.peersWaitIncoming()) {
                devices = devices.updateNetdev(n.options().netdev(), d -> d.withDuty(true));
            }
        }
        VmState next = s.withDevices(devices);
        // the run state travels (QEMU's global_state): a source that was paused gives a paused target
        return s.autostart() && f.peerConfirmed() && f.sourceRunning() ? VmNicGathers.startNics(e, next, false, Optional.empty(),
                f.info().migrationId()) : VmActor.changeRunState(e, next, RunState.PAUSED);
    }
}
