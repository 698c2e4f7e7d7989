package dev.livetap.actors.vm;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.Tracer;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.migration.MigrationCoordinator;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.actors.migration.ScriptRunner;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MachineType;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetRealizeCheck;
import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.BehaviorBuilder;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One VM endpoint (design decision 5: a process may hold several). Its states are its run states,
 * each a behaviour ({@code prelaunch}, {@code inmigrate}, {@code running}, {@code paused},
 * {@code finishMigrate}, {@code postmigrate}) carrying a {@link VmState}: the {@link DeviceTable}
 * (netdevs, NICs as children), the migration parameters and capabilities, the last migration's
 * figures, the running {@link MigrationCoordinator} and the event subscribers. Stop, cont, migrate
 * and migrate-incoming are each run state's own; a migration moves the run state through its
 * reports. NIC requests go out as {@link FanOut} gathers matched by request id.
 */
public final class VmActor {
    /** The dispatcher every livetap actor runs on (reference.conf of the codec module). */
    public static final DispatcherSelector DISPATCHER = DispatcherSelector.fromConfig("livetap.dispatchers.default");
    /** QMP device_add argument (a livetap extra): the guest stand-in's IPv4 address. */
    public static final String GUEST_IP_ARGUMENT = "x-guest-ip";
    /** NICs per VM endpoint, realized or being realized (one PCI bus has 32 slots). */
    public static final int MAX_NICS = 32;
    /** Netdevs per VM endpoint: one per NIC, and as many spare (a netdev_add before each device_del). */
    public static final int MAX_NETDEVS = 2 * MAX_NICS;

    /**
     * @param incoming    started with {@code -incoming}: run state {@code inmigrate}
     * @param startPaused QEMU's {@code -S}: a target waits for {@code cont} after the migration
     */
    public record VmConfig(String name, MachineType machine, boolean incoming, boolean startPaused, Os os,
            MigrationTransport transport, ScriptRunner scripts, VhostBackend vhost, MigrationTimeouts timeouts,
            Duration queueTimeout, Ipv4Address defaultGuestIp, long pid, Tracer tracer) {
        public VmConfig(String name, MachineType machine, boolean incoming, boolean startPaused, Os os,
                MigrationTransport transport, ScriptRunner scripts, VhostBackend vhost, MigrationTimeouts timeouts,
                Duration queueTimeout, Ipv4Address defaultGuestIp, long pid) {
            this(name, machine, incoming, startPaused, os, transport, scripts, vhost, timeouts, queueTimeout,
                    defaultGuestIp, pid, Tracer.NONE);
        }
    }

    public sealed interface Command permits NetdevAdd, NetdevDel, DeviceAdd, DeviceDel, MigrateSetParameters,
            QueryMigrateParameters, MigrateSetCapabilities, QueryMigrateCapabilities, MigrateIncoming, Migrate,
            MigrateCancel, MigrateContinue, QueryMigrate, QueryStatus, Stop, Cont, Subscribe, QueryNics, Realize, FromCoordinator,
            NicAnswer, NicsTimedOut {
    }

    /**
     * QMP netdev_add. {@code fds} are the descriptors {@code fd=NAME} / {@code fds=A:B:C} name, in
     * that order (resolved by the caller, e.g. from QMP {@code getfd}); they belong to the VM from
     * the moment the command is sent: a refused netdev_add closes every one of them.
     */
    public record NetdevAdd(Map<String, ?> arguments, List<OwnedFd> fds, ActorRef<VmReply> replyTo) implements Command {
        public NetdevAdd {
            fds = List.copyOf(fds);
        }

        /** A netdev that opens its own queues (or waits for incoming ones): no fds come with it. */
        public NetdevAdd(Map<String, ?> arguments, ActorRef<VmReply> replyTo) {
            this(arguments, List.of(), replyTo);
        }
    }

    public record NetdevDel(String id, ActorRef<VmReply> replyTo) implements Command {
    }

    /** QMP device_add arguments, plus optionally {@value #GUEST_IP_ARGUMENT}. */
    public record DeviceAdd(Map<String, ?> arguments, ActorRef<VmReply> replyTo) implements Command {
    }

    public record DeviceDel(String id, ActorRef<VmReply> replyTo) implements Command {
    }

    public record MigrateSetParameters(Map<String, ?> arguments, ActorRef<VmReply> replyTo) implements Command {
    }

    public record QueryMigrateParameters(ActorRef<VmReply> replyTo) implements Command {
    }

    public record MigrateSetCapabilities(Map<String, ?> arguments, ActorRef<VmReply> replyTo) implements Command {
    }

    public record QueryMigrateCapabilities(ActorRef<VmReply> replyTo) implements Command {
    }

    public record MigrateIncoming(String uri, ActorRef<VmReply> replyTo) implements Command {
    }

    public record Migrate(String uri, ActorRef<VmReply> replyTo) implements Command {
    }

    public record MigrateCancel(ActorRef<VmReply> replyTo) implements Command {
    }

    /**
     * {@code migrate-continue}: {@code expectedStatus} (a status name, e.g. {@code pre-switchover})
     * must be the status of this VM's outgoing migration, else QEMU's error naming that status.
     */
    public record MigrateContinue(String expectedStatus, ActorRef<VmReply> replyTo) implements Command {
    }

    /** Replies with the {@link MigrationInfo} itself as the value (its {@code toQmp()} is the QMP form). */
    public record QueryMigrate(ActorRef<VmReply> replyTo) implements Command {
    }

    /** {@code {"running": bool, "status": name}}. */
    public record QueryStatus(ActorRef<VmReply> replyTo) implements Command {
    }

    public record Stop(ActorRef<VmReply> replyTo) implements Command {
    }

    public record Cont(ActorRef<VmReply> replyTo) implements Command {
    }

    public record Subscribe(ActorRef<VmEvent> subscriber) implements Command {
    }

    /** livetap extra: a {@code List<VirtioNetActor.NicInfo>} in device-id order. */
    public record QueryNics(ActorRef<VmReply> replyTo) implements Command {
    }

    private record Realize(VirtioNetActor.RealizeResult result) implements Command {
    }

    private record FromCoordinator(MigrationCoordinator.Report report) implements Command {
    }

    /** Private: a NIC's reply, matched to its gather by its request id. */
    private record NicAnswer(VirtioNetActor.DeviceReply reply) implements Command {
    }

    /** Private: the timer of the NIC gather that starts at {@code firstRequestId}. */
    private record NicsTimedOut(long firstRequestId) implements Command {
    }

    public static Behavior<Command> create(VmConfig config) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            Env env = new Env(ctx, timers, config, ctx.messageAdapter(VirtioNetActor.RealizeResult.class, Realize::new),
                    ctx.messageAdapter(MigrationCoordinator.Report.class, FromCoordinator::new),
                    // one adapter for every NIC reply: the other adapters' types are no DeviceReply
                    ctx.messageAdapter(VirtioNetActor.DeviceReply.class, NicAnswer::new));
            return next(env, VmState.initial(config));
        }));
    }

    /** What stays the same for the actor's whole life. */
    private record Env(ActorContext<Command> ctx, TimerScheduler<Command> timers, VmConfig config,
            ActorRef<VirtioNetActor.RealizeResult> realizeAdapter, ActorRef<MigrationCoordinator.Report> reportAdapter,
            ActorRef<VirtioNetActor.DeviceReply> nicReplies) {
    }

    // ------------------------------------------------------------------ the run states

    /** The behaviour of the state's run state. */
    private static Behavior<Command> next(Env e, VmState s) {
        return switch (s.runState()) {
            case PRELAUNCH -> prelaunch(e, s);
            case INMIGRATE -> inmigrate(e, s);
            case RUNNING -> running(e, s);
            case PAUSED -> paused(e, s);
            case FINISH_MIGRATE -> finishMigrate(e, s);
            case POSTMIGRATE -> postmigrate(e, s);
        };
    }

    /** {@code -S}: nothing runs until {@code cont}; it may migrate out before ever running. */
    private static Behavior<Command> prelaunch(Env e, VmState s) {
        return common(e, s)
                .onMessage(Stop.class, m -> reply(e, s, m.replyTo(), VmReply.ok()))
                .onMessage(Cont.class, m -> next(e, startNics(e, s, true, Optional.of(m.replyTo()))))
                .onMessage(Migrate.class, m -> onMigrate(e, s, m, true))
                .onMessage(MigrateIncoming.class, m -> notIncoming(e, s, m))
                .build();
    }

    /** {@code -incoming}: waits for the incoming migration; stop/cont only set what happens after it. */
    private static Behavior<Command> inmigrate(Env e, VmState s) {
        return common(e, s)
                .onMessage(Stop.class, m -> reply(e, s.withAutostart(false), m.replyTo(), VmReply.ok()))
                // QEMU: resume as soon as the incoming migration completes
                .onMessage(Cont.class, m -> reply(e, s.withAutostart(true), m.replyTo(), VmReply.ok()))
                .onMessage(Migrate.class, m -> onMigrate(e, s, m, false))
                .onMessage(MigrateIncoming.class, m -> onMigrateIncoming(e, s, m))
                .build();
    }

    private static Behavior<Command> running(Env e, VmState s) {
        return common(e, s)
                .onMessage(Stop.class, m -> next(e, askNics(e, s, "stop", VirtioNetActor.Stopped.class,
                        VirtioNetActor.Stop::new, new VmState.StopVm(m.replyTo()))))
                .onMessage(Cont.class, m -> reply(e, s, m.replyTo(), VmReply.ok()))
                .onMessage(Migrate.class, m -> onMigrate(e, s, m, true))
                .onMessage(MigrateIncoming.class, m -> notIncoming(e, s, m))
                .build();
    }

    private static Behavior<Command> paused(Env e, VmState s) {
        return common(e, s)
                .onMessage(Stop.class, m -> reply(e, s, m.replyTo(), VmReply.ok()))
                .onMessage(Cont.class, m -> next(e, startNics(e, s, true, Optional.of(m.replyTo()))))
                .onMessage(Migrate.class, m -> onMigrate(e, s, m, true))
                .onMessage(MigrateIncoming.class, m -> notIncoming(e, s, m))
                .build();
    }

    /** The source's switch-over: the NICs are stopped and saved by the migration. */
    private static Behavior<Command> finishMigrate(Env e, VmState s) {
        return common(e, s)
                .onMessage(Stop.class, m -> reply(e, s, m.replyTo(), VmReply.ok()))
                .onMessage(Cont.class, m -> reply(e, s, m.replyTo(), VmReply.error(QmpError.generic(
                        "a migration is in progress (run state " + s.runState().qmpName() + ")"))))
                .onMessage(Migrate.class, m -> onMigrate(e, s, m, false))
                .onMessage(MigrateIncoming.class, m -> notIncoming(e, s, m))
                .build();
    }

    /** Migrated away: the backends belong to the target. */
    private static Behavior<Command> postmigrate(Env e, VmState s) {
        return common(e, s)
                .onMessage(Stop.class, m -> reply(e, s, m.replyTo(), VmReply.ok()))
                .onMessage(Cont.class, m -> reply(e, s, m.replyTo(), VmReply.error(QmpError.generic(
                        "the VM was migrated away (postmigrate): its backends belong to the migration target"))))
                .onMessage(Migrate.class, m -> onMigrate(e, s, m, false))
                .onMessage(MigrateIncoming.class, m -> notIncoming(e, s, m))
                .build();
    }

    /** What every run state answers the same way (stop, cont, migrate and migrate-incoming are each state's own). */
    private static BehaviorBuilder<Command> common(Env e, VmState s) {
        return Behaviors.receive(Command.class)
                .onMessage(NetdevAdd.class, m -> attempt(e, s, m.replyTo(), () -> {
                    DeviceTable devices = VmDevices.netdevAdd(e.config(), s.devices(), m);
                    m.replyTo().tell(VmReply.ok());
                    return s.withDevices(devices);
                }))
                .onMessage(NetdevDel.class, m -> onNetdevDel(e, s, m))
                .onMessage(DeviceAdd.class, m -> attempt(e, s, m.replyTo(), () -> s.withDevices(
                        VmDevices.deviceAdd(e.ctx(), e.config(), e.realizeAdapter(), s.devices(), s.runState(), m))))
                .onMessage(DeviceDel.class, m -> onDeviceDel(e, s, m))
                .onMessage(Realize.class, m -> onRealize(e, s, m.result()))
                .onMessage(MigrateSetParameters.class, m -> attempt(e, s, m.replyTo(), () -> {
                    VmState n = s.withParameters(s.parameters().apply(m.arguments()));
                    m.replyTo().tell(VmReply.ok());
                    return n;
                }))
                .onMessage(QueryMigrateParameters.class, m -> reply(e, s, m.replyTo(), VmReply.ok(s.parameters().toQmp())))
                .onMessage(MigrateSetCapabilities.class, m -> attempt(e, s, m.replyTo(), () -> {
                    VmState n = s.withCapabilities(s.capabilities().apply(m.arguments()));
                    m.replyTo().tell(VmReply.ok());
                    return n;
                }))
                .onMessage(QueryMigrateCapabilities.class, m -> reply(e, s, m.replyTo(), VmReply.ok(s.capabilities().toQmp())))
                .onMessage(MigrateCancel.class, m -> {
                    s.coordinator().ifPresent(c -> c.tell(new MigrationCoordinator.Cancel()));
                    return reply(e, s, m.replyTo(), VmReply.ok());
                })
                .onMessage(MigrateContinue.class, m -> onMigrateContinue(e, s, m))
                .onMessage(QueryMigrate.class, m -> reply(e, s, m.replyTo(), VmReply.ok(s.lastInfo())))
                .onMessage(QueryStatus.class, m -> {
                    Map<String, Object> status = new LinkedHashMap<>();
                    status.put("running", s.runState() == RunState.RUNNING);
                    status.put("status", s.runState().qmpName());
                    return reply(e, s, m.replyTo(), VmReply.ok(status));
                })
                .onMessage(Subscribe.class, m -> next(e, s.withSubscriber(m.subscriber())))
                .onMessage(QueryNics.class, m -> next(e, askNics(e, s, "query-nics", VirtioNetActor.NicInfo.class,
                        VirtioNetActor.GetInfo::new, new VmState.QueryNics(m.replyTo()))))
                .onMessage(FromCoordinator.class, m -> next(e, onReport(e, s, m.report())))
                .onMessage(NicAnswer.class, m -> onNicAnswer(e, s, m.reply()))
                .onMessage(NicsTimedOut.class, m -> onNicsTimedOut(e, s, m.firstRequestId()))
                .onSignal(Terminated.class, t -> next(e, onTerminated(e, s, t)))
                .onSignal(PostStop.class, sig -> {
                    s.devices().closePassedFds(); // fds handed to queues close with them
                    return Behaviors.same();
                });
    }

    // ------------------------------------------------------------------ netdevs and devices

    private static Behavior<Command> onNetdevDel(Env e, VmState s, NetdevDel m) {
        Optional<DeviceTable.Netdev> found = s.devices().netdev(m.id());
        if (found.isEmpty()) {
            return reply(e, s, m.replyTo(), VmReply.error(new QmpError(QmpError.DEVICE_NOT_FOUND,
                    "Device '" + m.id() + "' not found")));
        }
        Optional<DeviceTable.Nic> user = s.devices().nicUsing(m.id());
        if (user.isPresent()) {
            return reply(e, s, m.replyTo(), VmReply.error(QmpError.generic("netdev '" + m.id()
                    + "' is in use by device '" + user.get().deviceId() + "'; device_del it first")));
        }
        DeviceTable.Netdev n = found.get();
        n.closePassed();
        n.vhostQueues().forEach(e.config().vhost()::tearDown);
        VmDevices.runDownscript(e.ctx(), e.config(), n);
        return reply(e, s.withDevices(s.devices().withoutNetdev(m.id())), m.replyTo(), VmReply.ok());
    }

    private static Behavior<Command> onRealize(Env e, VmState s, VirtioNetActor.RealizeResult result) {
        Optional<DeviceTable.PendingDevice> found = Optional.ofNullable(s.devices().pending().get(result.deviceId()));
        if (found.isEmpty()) {
            return Behaviors.same();
        }
        DeviceTable.PendingDevice p = found.get();
        DeviceTable devices = s.devices().withoutPending(result.deviceId());
        if (result instanceof VirtioNetActor.RealizeFailed f) {
            return reply(e, s.withDevices(devices), p.replyTo(), VmReply.error(QmpError.generic(f.error())));
        }
        VirtioNetActor.Realized r = (VirtioNetActor.Realized) result;
        e.ctx().watch(r.nic());
        devices = devices.withNic(new DeviceTable.Nic(p.options(), r.deviceId(), r.nic(), r.peersWaitIncoming()));
        TapNetdevOptions n = devices.netdev(p.options().netdev()).orElseThrow().options();
        if (!n.waitsForIncomingFds() && n.script().runs()) {
            e.config().scripts().run(n.script().optionValue(), n.ifname().orElse(n.id()));
        }
        if (s.runState() == RunState.RUNNING) {
            r.nic().tell(new VirtioNetActor.Start(e.ctx().getSystem().ignoreRef()));
        }
        return reply(e, s.withDevices(devices), p.replyTo(), VmReply.ok());
    }

    private static Behavior<Command> onDeviceDel(Env e, VmState s, DeviceDel m) {
        Optional<DeviceTable.Nic> found = s.devices().nic(m.id());
        if (found.isEmpty()) {
            return reply(e, s, m.replyTo(), VmReply.error(new QmpError(QmpError.DEVICE_NOT_FOUND,
                    "Device '" + m.id() + "' not found")));
        }
        if (s.coordinator().isPresent()) {
            return reply(e, s, m.replyTo(), VmReply.error(QmpError.generic("device_del is not allowed during a migration")));
        }
        e.ctx().unwatch(found.get().ref());
        found.get().ref().tell(new VirtioNetActor.Unplug());
        return reply(e, s.withDevices(s.devices().withoutNic(m.id())), m.replyTo(), VmReply.ok());
    }

    private static VmState onTerminated(Env e, VmState s, Terminated t) {
        DeviceTable devices = s.devices();
        for (DeviceTable.Nic n : devices.nicList()) {
            if (n.ref().equals(t.getRef())) {
                e.ctx().getLog().error("NIC {} stopped unexpectedly", n.deviceId());
                devices = devices.withoutNic(n.deviceId());
            }
        }
        VmState next = s.withDevices(devices);
        return s.coordinator().filter(c -> c.equals(t.getRef())).isPresent() ? next.withoutCoordinator() : next;
    }

    // ------------------------------------------------------------------ migration

    private static Behavior<Command> notIncoming(Env e, VmState s, MigrateIncoming m) {
        return reply(e, s, m.replyTo(), VmReply.error(QmpError.generic("'-incoming' was not specified on the command line")));
    }

    private static Behavior<Command> onMigrateIncoming(Env e, VmState s, MigrateIncoming m) {
        return attempt(e, s, m.replyTo(), () -> {
            if (s.coordinator().isPresent() || s.lastInfo().status() == MigrationStatus.COMPLETED) {
                throw new OptionException("The incoming migration has already been started");
            }
            MigrationUri.Unix uri = unixOnly(MigrationUri.parse(m.uri()));
            String id = migrationId(e, s);
            List<MigrationCoordinator.Nic> list = new ArrayList<>();
            s.devices().nicList().forEach(n -> list.add(new MigrationCoordinator.Nic(n.deviceId(), n.ref(), n.peersWaitIncoming())));
            ActorRef<MigrationCoordinator.Command> c = e.ctx().spawn(e.config().tracer().trace(id, MigrationCoordinator.target(
                    new MigrationCoordinator.TargetSetup(id, uri, list, e.config().transport(), e.config().os().clock(),
                            e.config().timeouts()), e.reportAdapter())), id, DISPATCHER);
            e.ctx().watch(c);
            m.replyTo().tell(VmReply.ok());
            return s.withMigrationStarted(c, false, MigrationInfo.starting(id)); // see onMigrate
        });
    }

    /** @param migratableHere whether this run state may migrate out */
    private static Behavior<Command> onMigrate(Env e, VmState s, Migrate m, boolean migratableHere) {
        return attempt(e, s, m.replyTo(), () -> {
            MigrationUri uri = MigrationUri.parse(m.uri());
            MigrationUri.requireChannelFor(s.parameters(), uri); // semantic 1: fails at once, nothing changes
            MigrationUri.Unix unix = unixOnly(uri);
            if (s.coordinator().isPresent()) {
                throw new OptionException("There's a migration process in progress");
            }
            if (!migratableHere) {
                throw new OptionException("cannot migrate in run state " + s.runState().qmpName());
            }
            VmConfig config = e.config();
            String id = migrationId(e, s);
            List<MigrationCoordinator.Nic> list = new ArrayList<>();
            s.devices().nicList().forEach(n -> list.add(new MigrationCoordinator.Nic(n.deviceId(), n.ref(),
                    VirtioNetRealizeCheck.backendTravels(s.parameters(), n.options(), config.machine()))));
            StreamHeader header = StreamHeader.of(config.pid(), config.name(), config.machine().name());
            ActorRef<MigrationCoordinator.Command> c = e.ctx().spawn(config.tracer().trace(id, MigrationCoordinator.source(
                    new MigrationCoordinator.SourceSetup(id, unix, s.parameters(), list, header, config.transport(),
                            config.os().clock(), config.timeouts(),
                            s.capabilities().isOn(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER)),
                    e.reportAdapter())), id, DISPATCHER);
            e.ctx().watch(c);
            m.replyTo().tell(VmReply.ok());
            // From the reply on, query-migrate describes this migration (status setup), as QEMU's does: the
            // coordinator's first report comes a moment later, and until then a client polling right after
            // 'migrate' read the previous migration's final status and took it for this one's (the cause of
            // the unmeasured hops in the end-to-end test and the demo).
            return s.withMigrationStarted(c, true, MigrationInfo.starting(id));
        });
    }

    /**
     * QEMU's qmp_migrate_continue compares with the outgoing migration's status only
     * ({@code migrate_get_current()}): on a target that never migrated out that is {@code none}.
     */
    private static Behavior<Command> onMigrateContinue(Env e, VmState s, MigrateContinue m) {
        MigrationStatus current = s.outgoing() ? s.lastInfo().status() : MigrationStatus.NONE;
        if (MigrationStatus.fromQmp(m.expectedStatus()).orElse(null) != current) {
            return reply(e, s, m.replyTo(), VmReply.error(QmpError.generic("Migration not in expected state: "
                    + current.qmpName())));
        }
        if (current == MigrationStatus.PRE_SWITCHOVER) {
            s.coordinator().ifPresent(c -> c.tell(new MigrationCoordinator.ContinueSwitchover()));
        }
        return reply(e, s, m.replyTo(), VmReply.ok());
    }

    private static MigrationUri.Unix unixOnly(MigrationUri uri) {
        if (uri instanceof MigrationUri.Unix u) {
            return u;
        }
        throw new OptionException("livetap migrates only over UNIX sockets (unix:PATH); got " + uri.uri());
    }

    /** The name of the migration this VM starts next. */
    private static String migrationId(Env e, VmState s) {
        return "migration-" + e.config().name() + "-" + (s.migrations() + 1);
    }

    private static VmState onReport(Env e, VmState s, MigrationCoordinator.Report r) {
        if (r instanceof MigrationCoordinator.Progress p) {
            VmState next = s.withLastInfo(p.info());
            // A final status is announced with Finished, once this actor no longer counts the
            // migration as running: a client reacting to the event may migrate or unplug at once.
            return p.info().status().isFinal() ? next : emitMigrationStatus(e, next, p.info());
        }
        if (r instanceof MigrationCoordinator.RunStateChange c) {
            return changeRunState(e, s, c.state());
        }
        MigrationCoordinator.Finished f = (MigrationCoordinator.Finished) r;
        VmState next = s.withLastInfo(f.info()).withoutCoordinator();
        if (f.succeeded()) {
            next = migrated(e, next, f);
        }
        return emitMigrationStatus(e, next, f.info());
    }

    /** One MIGRATION event per (migration, status). */
    private static VmState emitMigrationStatus(Env e, VmState s, MigrationInfo info) {
        String key = info.migrationId() + "/" + info.status().qmpName();
        if (key.equals(s.lastAnnounced())) {
            return s;
        }
        emit(e, s, VmEvent.MIGRATION, Map.of("status", info.status().qmpName()));
        return s.withLastAnnounced(key);
    }

    private static VmState migrated(Env e, VmState s, MigrationCoordinator.Finished f) {
        DeviceTable devices = s.devices();
        if (s.outgoing()) {
            // the duty passes to the target with 'loaded', for the netdevs whose backend travelled
            if (f.backendHandedOver()) {
                for (DeviceTable.Nic n : devices.nicList()) {
                    if (VirtioNetRealizeCheck.backendTravels(s.parameters(), n.options(), e.config().machine())) {
                        devices = devices.updateNetdev(n.options().netdev(), d -> d.withDuty(false));
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
        return s.autostart() && f.peerConfirmed() ? startNics(e, next, false, Optional.empty())
                : changeRunState(e, next, RunState.PAUSED);
    }

    // ------------------------------------------------------------------ run state

    /** VM run: every queue reads again; the last one to start marks the end of the target's downtime. */
    private static VmState startNics(Env e, VmState s, boolean byCont, Optional<ActorRef<VmReply>> replyTo) {
        return askNics(e, s, "start", VirtioNetActor.Started.class, VirtioNetActor.Start::new,
                new VmState.StartVm(byCont, replyTo));
    }

    private static VmState changeRunState(Env e, VmState s, RunState next) {
        if (s.runState() == RunState.RUNNING && next != RunState.RUNNING) {
            emit(e, s, VmEvent.STOP, Map.of());
        } else if (s.runState() != RunState.RUNNING && next == RunState.RUNNING) {
            emit(e, s, VmEvent.RESUME, Map.of());
        }
        return s.withRunState(next);
    }

    private static void emit(Env e, VmState s, String event, Map<String, Object> data) {
        VmEvent ev = new VmEvent(event, data, e.config().os().clock().nanos());
        s.subscribers().forEach(sub -> sub.tell(ev));
    }

    // ------------------------------------------------------------------ NIC gathers

    /** Asks every NIC (in device-id order); with none, the gather is complete at once. */
    private static <R> VmState askNics(Env e, VmState s, String what, Class<R> replyType,
            BiFunction<Long, ActorRef<R>, VirtioNetActor.Command> request, VmState.Purpose purpose) {
        List<DeviceTable.Nic> nics = s.devices().nicList();
        if (nics.isEmpty()) {
            return gathered(e, s, purpose, List.of());
        }
        @SuppressWarnings("unchecked")
        ActorRef<R> replyTo = (ActorRef<R>) (ActorRef<?>) e.nicReplies();
        FanOut<R> gather = FanOut.scatter(what, replyType, s.nextRequestId(),
                nics.stream().map(DeviceTable.Nic::deviceId).toList(), nics.stream().map(DeviceTable.Nic::ref).toList(),
                (i, requestId) -> request.apply(requestId, replyTo), e.timers(), e.config().queueTimeout(),
                NicsTimedOut::new);
        return s.withNicOp(new VmState.NicOp(gather, purpose));
    }

    private static Behavior<Command> onNicAnswer(Env e, VmState s, VirtioNetActor.DeviceReply reply) {
        for (VmState.NicOp op : s.nicOps()) {
            if (op.gather().owns(reply.requestId())) {
                FanOut.Outcome<?> o = op.gather().offer(reply.requestId(), reply, e.timers());
                if (o instanceof FanOut.Waiting<?> w) {
                    return next(e, s.replacingNicOp(op, Optional.of(new VmState.NicOp(w.next(), op.purpose()))));
                }
                if (o instanceof FanOut.Gathered<?> g) {
                    return next(e, gathered(e, s.replacingNicOp(op, Optional.empty()), op.purpose(), g.replies()));
                }
                break;
            }
        }
        e.ctx().getLog().debug("a late or unexpected NIC reply dropped: {} {}", reply.getClass().getSimpleName(),
                reply.requestId());
        return Behaviors.same();
    }

    private static Behavior<Command> onNicsTimedOut(Env e, VmState s, long firstRequestId) {
        for (VmState.NicOp op : s.nicOps()) {
            if (op.gather().firstRequestId() == firstRequestId) {
                FanOut.TimedOut t = op.gather().timedOut();
                String error = "a NIC did not answer: no " + t.replyType() + " within the timeout";
                VmState next = s.replacingNicOp(op, Optional.empty());
                VmState.Purpose p = op.purpose();
                if (p instanceof VmState.QueryNics q) {
                    q.replyTo().tell(VmReply.error(QmpError.generic(error)));
                } else if (p instanceof VmState.StopVm stop) {
                    stop.replyTo().tell(VmReply.error(QmpError.generic(error)));
                } else if (p instanceof VmState.StartVm start) {
                    start.replyTo().ifPresent(r -> r.tell(VmReply.error(QmpError.generic(error))));
                }
                return next(e, next);
            }
        }
        return Behaviors.same(); // the gather completed just before its timer fired
    }

    /** Every NIC answered: what the gather was for happens now. */
    private static VmState gathered(Env e, VmState s, VmState.Purpose purpose, List<?> replies) {
        if (purpose instanceof VmState.QueryNics q) {
            List<VirtioNetActor.NicInfo> infos = new ArrayList<>();
            replies.forEach(r -> infos.add((VirtioNetActor.NicInfo) r));
            q.replyTo().tell(VmReply.ok(List.copyOf(infos)));
            return s;
        }
        if (purpose instanceof VmState.StopVm stop) {
            VmState next = changeRunState(e, s, RunState.PAUSED);
            stop.replyTo().tell(VmReply.ok());
            return next;
        }
        VmState.StartVm start = (VmState.StartVm) purpose;
        long last = 0;
        for (Object r : replies) {
            last = Math.max(last, ((VirtioNetActor.Started) r).lastReadingNanos());
        }
        VmState next = s;
        MigrationInfo info = s.lastInfo();
        if (!s.outgoing() && info.status() == MigrationStatus.COMPLETED && info.targetStartedNanos() == 0) {
            next = next.withLastInfo(info.withTargetStarted(last == 0 ? e.config().os().clock().nanos() : last,
                    start.byCont()));
        }
        next = changeRunState(e, next, RunState.RUNNING);
        start.replyTo().ifPresent(r -> r.tell(VmReply.ok()));
        return next;
    }

    // ------------------------------------------------------------------ helpers

    /** Runs {@code action}, which replies itself on success; a refused option becomes the QMP error. */
    private static Behavior<Command> attempt(Env e, VmState s, ActorRef<VmReply> replyTo, Supplier<VmState> action) {
        try {
            return next(e, action.get());
        } catch (OptionException ex) {
            return reply(e, s, replyTo, VmReply.error(new QmpError(ex.errorClass(), ex.getMessage())));
        } catch (IllegalArgumentException ex) {
            return reply(e, s, replyTo, VmReply.error(QmpError.generic(ex.getMessage())));
        }
    }

    private static Behavior<Command> reply(Env e, VmState s, ActorRef<VmReply> to, VmReply r) {
        to.tell(r);
        return next(e, s);
    }
}
