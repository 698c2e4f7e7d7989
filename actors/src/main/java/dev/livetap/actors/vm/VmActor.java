package dev.livetap.actors.vm;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.StateHandlers;
import dev.livetap.actors.StateName;
import dev.livetap.actors.Tracer;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.migration.MigrationCoordinator;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.actors.migration.ScriptRunner;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MachineType;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
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
            NicAnswer, NicsTimedOut, Shutdown, DownscriptsDone, CancelHandled, NetdevDownscriptRan {
    }

    /**
     * netdev_add. {@code fds} are the descriptors {@code fd=NAME} / {@code fds=A:B:C} name, in
     * that order (resolved by the caller, e.g. from QMP {@code getfd}); they belong to the VM from
     * the moment the command is sent: a refused netdev_add closes every one of them.
     */
    public record NetdevAdd(TapNetdevOptions options, List<OwnedFd> fds, ActorRef<VmReply> replyTo) implements Command {
        public NetdevAdd {
            fds = List.copyOf(fds);
        }

        /** A netdev that opens its own queues (or waits for incoming ones): no fds come with it. */
        public NetdevAdd(TapNetdevOptions options, ActorRef<VmReply> replyTo) {
            this(options, List.of(), replyTo);
        }
    }

    public record NetdevDel(String id, ActorRef<VmReply> replyTo) implements Command {
    }

    /** device_add of a virtio-net NIC; {@code guestIp} (a livetap extra) overrides the VM's default. */
    public record DeviceAdd(VirtioNetDeviceOptions options, Optional<Ipv4Address> guestIp, ActorRef<VmReply> replyTo)
            implements Command {
        public DeviceAdd(VirtioNetDeviceOptions options, ActorRef<VmReply> replyTo) {
            this(options, Optional.empty(), replyTo);
        }
    }

    public record DeviceDel(String id, ActorRef<VmReply> replyTo) implements Command {
    }

    /** migrate-set-parameters: the parameters {@code update} gives change, the others stay. */
    public record MigrateSetParameters(MigrationParameters.Update update, ActorRef<VmReply> replyTo) implements Command {
    }

    /** Replies {@link VmReply.Parameters}. */
    public record QueryMigrateParameters(ActorRef<VmReply> replyTo) implements Command {
    }

    /** migrate-set-capabilities: the capabilities {@code changes} names are set, the others stay. */
    public record MigrateSetCapabilities(Map<MigrationCapabilities.Capability, Boolean> changes,
            ActorRef<VmReply> replyTo) implements Command {
        public MigrateSetCapabilities {
            EnumMap<MigrationCapabilities.Capability, Boolean> ordered = new EnumMap<>(MigrationCapabilities.Capability.class);
            ordered.putAll(changes);
            changes = Collections.unmodifiableMap(ordered); // in capability order, also in the trace
        }
    }

    /** Replies {@link VmReply.Capabilities}. */
    public record QueryMigrateCapabilities(ActorRef<VmReply> replyTo) implements Command {
    }

    public record MigrateIncoming(String uri, ActorRef<VmReply> replyTo) implements Command {
    }

    /**
     * {@code migrate}. {@code socket}: for {@code fd:NAME}, the descriptor NAME stands for (from QMP
     * {@code getfd}); it belongs to the VM from the moment the command is sent, a refusal closes it.
     */
    public record Migrate(String uri, Optional<OwnedFd> socket, ActorRef<VmReply> replyTo) implements Command {
        public Migrate(String uri, ActorRef<VmReply> replyTo) {
            this(uri, Optional.empty(), replyTo);
        }
    }

    public record MigrateCancel(ActorRef<VmReply> replyTo) implements Command {
    }

    /**
     * {@code migrate-continue}: {@code expected} (e.g. {@code pre-switchover}; empty for a status
     * livetap does not model) must be the status of this VM's outgoing migration, else QEMU's error
     * naming that status.
     */
    public record MigrateContinue(Optional<MigrationStatus> expected, ActorRef<VmReply> replyTo) implements Command {
        public MigrateContinue(MigrationStatus expected, ActorRef<VmReply> replyTo) {
            this(Optional.of(expected), replyTo);
        }
    }

    /** Replies {@link VmReply.Migration}. */
    public record QueryMigrate(ActorRef<VmReply> replyTo) implements Command {
    }

    /** Replies {@link VmReply.Status}. */
    public record QueryStatus(ActorRef<VmReply> replyTo) implements Command {
    }

    public record Stop(ActorRef<VmReply> replyTo) implements Command {
    }

    public record Cont(ActorRef<VmReply> replyTo) implements Command {
    }

    public record Subscribe(ActorRef<VmEvent> subscriber) implements Command {
    }

    /** livetap extra: replies {@link VmReply.Nics}. */
    public record QueryNics(ActorRef<VmReply> replyTo) implements Command {
    }

    private record Realize(VirtioNetActor.RealizeResult result) implements Command {
    }

    private record FromCoordinator(MigrationCoordinator.Report report) implements Command {
    }

    /** Private: a NIC's reply, matched to its gather by its request id. */
    private record NicAnswer(VirtioNetActor.DeviceReply reply) implements Command {
    }

    /**
     * The VM ends (QMP {@code quit}, a signal, the embedding closing it): as QEMU's net_cleanup, each
     * netdev whose downscript duty is this side's runs its downscript while its TAP queues are still
     * open, then the VM stops and its queues close their fds (a non-persistent TAP then disappears).
     */
    public record Shutdown() implements Command {
    }

    /** Private: the coordinator handled a {@code migrate_cancel}: the oldest waiting one is answered. */
    private enum CancelHandled implements Command {
        INSTANCE
    }

    /** Private: netdev_del's downscript ended: the held NIC's queues close now, then netdev_del replies. */
    private record NetdevDownscriptRan(ActorRef<VirtioNetActor.Command> heldNic, ActorRef<VmReply> replyTo) implements Command {
    }

    /** Private: every downscript of the shutdown ended (or their time ran out). */
    private enum DownscriptsDone implements Command {
        INSTANCE
    }

    /** How long a shutdown waits for the downscripts (each is also bounded by its runner). */
    static final Duration DOWNSCRIPTS_MAX = Duration.ofSeconds(30);

    /** Private: the timer of the NIC gather that starts at {@code firstRequestId}. */
    record NicsTimedOut(long firstRequestId) implements Command {
    }

    static final VmReply DONE = new VmReply.Done();
    /** {@code cont} of a source whose NICs' TAP queues went to the target: docs/qmp.md. */
    public static final String POSTMIGRATE_CONT_REFUSED = "the VM was migrated away (postmigrate): its NICs' TAP queues"
            + " were handed to the migration target; livetap refuses cont here so that no TAP queue has two"
            + " readers (QEMU would resume)";

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
    record Env(ActorContext<Command> ctx, TimerScheduler<Command> timers, VmConfig config,
            ActorRef<VirtioNetActor.RealizeResult> realizeAdapter, ActorRef<MigrationCoordinator.Report> reportAdapter,
            ActorRef<VirtioNetActor.DeviceReply> nicReplies) {
    }

    // ------------------------------------------------------------------ the run states

    /** The behaviour of the state's run state. */
    static Behavior<Command> next(Env e, VmState s) {
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
        return PRELAUNCH.behavior(e, s);
    }

    private static final StateHandlers<Env, VmState, Command> PRELAUNCH = common()
            .on(Stop.class, (e, s, m) -> reply(e, s, m.replyTo(), DONE))
            .on(Cont.class, (e, s, m) -> next(e, VmNicGathers.startNics(e, s, true, Optional.of(m.replyTo()))))
            .on(Migrate.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrate(e, s, m, true)))
            .on(MigrateIncoming.class, VmActor::notIncoming)
            .build();

    /** {@code -incoming}: waits for the incoming migration; stop/cont only set what happens after it. */
    private static Behavior<Command> inmigrate(Env e, VmState s) {
        return INMIGRATE.behavior(e, s);
    }

    private static final StateHandlers<Env, VmState, Command> INMIGRATE = common()
            .on(Stop.class, (e, s, m) -> reply(e, s.withAutostart(false), m.replyTo(), DONE))
            // QEMU: resume as soon as the incoming migration completes
            .on(Cont.class, (e, s, m) -> reply(e, s.withAutostart(true), m.replyTo(), DONE))
            .on(Migrate.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrate(e, s, m, false)))
            .on(MigrateIncoming.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrateIncoming(e, s, m)))
            .build();

    private static Behavior<Command> running(Env e, VmState s) {
        return RUNNING.behavior(e, s);
    }

    private static final StateHandlers<Env, VmState, Command> RUNNING = common()
            .on(Stop.class, (e, s, m) -> next(e, VmNicGathers.askNics(e, s, "stop", VirtioNetActor.Stopped.class,
                    VirtioNetActor.Stop::new, new VmState.StopVm(m.replyTo()))))
            .on(Cont.class, (e, s, m) -> reply(e, s, m.replyTo(), DONE))
            .on(Migrate.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrate(e, s, m, true)))
            .on(MigrateIncoming.class, VmActor::notIncoming)
            .build();

    private static Behavior<Command> paused(Env e, VmState s) {
        return PAUSED.behavior(e, s);
    }

    private static final StateHandlers<Env, VmState, Command> PAUSED = common()
            .on(Stop.class, (e, s, m) -> reply(e, s, m.replyTo(), DONE))
            .on(Cont.class, (e, s, m) -> next(e, VmNicGathers.startNics(e, s, true, Optional.of(m.replyTo()))))
            .on(Migrate.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrate(e, s, m, true)))
            .on(MigrateIncoming.class, VmActor::notIncoming)
            .build();

    /** The source's switch-over: the NICs are stopped and saved by the migration. */
    private static Behavior<Command> finishMigrate(Env e, VmState s) {
        return FINISH_MIGRATE.behavior(e, s);
    }

    private static final StateHandlers<Env, VmState, Command> FINISH_MIGRATE = common()
            .on(Stop.class, (e, s, m) -> reply(e, s, m.replyTo(), DONE))
            .on(Cont.class, (e, s, m) -> reply(e, s, m.replyTo(), VmReply.Refused.rejected((
                    "a migration is in progress (run state " + s.runState().qmpName() + ")"))))
            .on(Migrate.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrate(e, s, m, false)))
            .on(MigrateIncoming.class, VmActor::notIncoming)
            .build();

    /**
     * Migrated away. {@code cont} runs the VM again as QEMU does when no NIC's backend travelled (its
     * queues kept their fds, paused); when a NIC's TAP queues went to the target, livetap refuses it
     * (a deliberate difference from QEMU: two processes reading one queue lose frames to each other).
     */
    private static Behavior<Command> postmigrate(Env e, VmState s) {
        return POSTMIGRATE.behavior(e, s);
    }

    private static final StateHandlers<Env, VmState, Command> POSTMIGRATE = common()
            .on(Stop.class, (e, s, m) -> !s.devices().anyBackendGone()
                    ? reply(e, changeRunState(e, s, RunState.PAUSED), m.replyTo(), DONE) : reply(e, s, m.replyTo(), DONE))
            .on(Cont.class, (e, s, m) -> !s.devices().anyBackendGone()
                    ? next(e, VmNicGathers.startNics(e, s, true, Optional.of(m.replyTo())))
                    : reply(e, s, m.replyTo(), VmReply.Refused.rejected(POSTMIGRATE_CONT_REFUSED)))
            .on(Migrate.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> VmMigrations.migrate(e, s, m, false)))
            .on(MigrateIncoming.class, VmActor::notIncoming)
            .build();

    /**
     * What every run state answers the same way (stop, cont, migrate and migrate-incoming are each
     * state's own): a table built once per state ({@link StateHandlers}), the switch-over's messages first.
     */
    private static StateHandlers.Builder<Env, VmState, Command> common() {
        return StateHandlers.<Env, VmState, Command>builder()
                .on(FromCoordinator.class, (e, s, m) -> next(e, VmMigrations.onReport(e, s, m.report())))
                .on(NicAnswer.class, (e, s, m) -> VmNicGathers.onNicAnswer(e, s, m.reply()))
                .on(NicsTimedOut.class, (e, s, m) -> VmNicGathers.onNicsTimedOut(e, s, m.firstRequestId()))
                .on(NetdevAdd.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> {
                    DeviceTable devices = VmDevices.netdevAdd(e.config(), s.devices(), s.runState(),
                            s.parameters().local(), m);
                    m.replyTo().tell(DONE);
                    return s.withDevices(devices);
                }))
                .on(NetdevDel.class, VmActor::onNetdevDel)
                .on(NetdevDownscriptRan.class, (e, s, m) -> {
                    m.heldNic().tell(new VirtioNetActor.Unplug()); // QEMU's tap_cleanup: the down script, then close
                    return reply(e, s, m.replyTo(), DONE);
                })
                .on(DeviceAdd.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> s.withDevices(
                        VmDevices.deviceAdd(e.ctx(), e.config(), e.realizeAdapter(), s.devices(), s.runState(), m))))
                .on(DeviceDel.class, VmActor::onDeviceDel)
                .on(Realize.class, (e, s, m) -> onRealize(e, s, m.result()))
                .on(MigrateSetParameters.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> {
                    VmState n = s.withParameters(s.parameters().apply(m.update()));
                    m.replyTo().tell(DONE);
                    return n;
                }))
                .on(QueryMigrateParameters.class, (e, s, m) -> reply(e, s, m.replyTo(), new VmReply.Parameters(s.parameters())))
                .on(MigrateSetCapabilities.class, (e, s, m) -> attempt(e, s, m.replyTo(), () -> {
                    VmState n = s.withCapabilities(s.capabilities().with(m.changes()));
                    m.replyTo().tell(DONE);
                    return n;
                }))
                .on(QueryMigrateCapabilities.class, (e, s, m) -> reply(e, s, m.replyTo(), new VmReply.Capabilities(s.capabilities())))
                .on(MigrateCancel.class, VmActor::onMigrateCancel)
                .on(CancelHandled.class, (e, s, m) -> onCancelHandled(e, s))
                .on(MigrateContinue.class, VmActor::onMigrateContinue)
                .on(QueryMigrate.class, (e, s, m) -> reply(e, s, m.replyTo(), new VmReply.Migration(s.lastInfo())))
                .on(QueryStatus.class, (e, s, m) -> reply(e, s, m.replyTo(), new VmReply.Status(s.runState())))
                .on(Subscribe.class, (e, s, m) -> next(e, s.withSubscriber(m.subscriber())))
                .on(QueryNics.class, (e, s, m) -> next(e, VmNicGathers.askNics(e, s, "query-nics", VirtioNetActor.NicInfo.class,
                        VirtioNetActor.GetInfo::new, new VmState.QueryNics(m.replyTo()))))
                .on(Shutdown.class, (e, s, m) -> shutdown(e, s))
                .onSignal(Terminated.class, (e, s, t) -> next(e, onTerminated(e, s, t)))
                .onSignal(PostStop.class, (e, s, sig) -> {
                    s.devices().closePassedFds(); // fds handed to queues close with them
                    return Behaviors.same();
                });
    }

    // ------------------------------------------------------------------ the end

    /** Runs the downscripts that are this side's duty, then stops (the queues close their fds on stop). */
    private static Behavior<Command> shutdown(Env e, VmState s) {
        List<CompletableFuture<Integer>> runs = new ArrayList<>();
        for (DeviceTable.Netdev n : s.devices().netdevs().values()) {
            VmDevices.runDownscript(e.ctx(), e.config(), n).ifPresent(r -> runs.add(r.toCompletableFuture()));
        }
        if (runs.isEmpty()) {
            return Behaviors.stopped();
        }
        e.timers().startSingleTimer(DownscriptsDone.INSTANCE, DOWNSCRIPTS_MAX);
        e.ctx().pipeToSelf(CompletableFuture.allOf(runs.toArray(new CompletableFuture<?>[0])),
                (v, ex) -> DownscriptsDone.INSTANCE);
        return ending(s);
    }

    /** Waiting for the downscripts of a shutdown: nothing else is done any more. */
    private static Behavior<Command> ending(VmState s) {
        return Behaviors.receive(Command.class)
                .onMessageEquals(DownscriptsDone.INSTANCE, Behaviors::stopped)
                .onAnyMessage(m -> Behaviors.same())
                .onSignal(PostStop.class, sig -> {
                    s.devices().closePassedFds();
                    return Behaviors.same();
                })
                .build();
    }

    // ------------------------------------------------------------------ netdevs and devices

    private static Behavior<Command> onNetdevDel(Env e, VmState s, NetdevDel m) {
        Optional<DeviceTable.Netdev> found = s.devices().netdev(m.id());
        if (found.isEmpty()) {
            return reply(e, s, m.replyTo(), VmReply.Refused.deviceNotFound(m.id()));
        }
        Optional<DeviceTable.Nic> user = s.devices().nicUsing(m.id());
        if (user.isPresent()) {
            return reply(e, s, m.replyTo(), VmReply.Refused.rejected(("netdev '" + m.id()
                    + "' is in use by device '" + user.get().deviceId() + "'; device_del it first")));
        }
        DeviceTable.Netdev n = found.get();
        n.closePassed();
        n.vhostQueues().forEach(e.config().vhost()::tearDown);
        Optional<java.util.concurrent.CompletionStage<Integer>> run = VmDevices.runDownscript(e.ctx(), e.config(), n);
        VmState without = s.withDevices(s.devices().withoutNetdev(m.id()));
        if (n.heldNic().isPresent() && run.isPresent()) {
            // as QEMU's netdev_del: the reply once the script ended and the TAP queues are closing
            ActorRef<VirtioNetActor.Command> held = n.heldNic().get();
            e.ctx().pipeToSelf(run.get(), (code, ex) -> new NetdevDownscriptRan(held, m.replyTo()));
            return next(e, without);
        }
        n.heldNic().ifPresent(nic -> nic.tell(new VirtioNetActor.Unplug()));
        return reply(e, without, m.replyTo(), DONE);
    }

    private static Behavior<Command> onRealize(Env e, VmState s, VirtioNetActor.RealizeResult result) {
        Optional<DeviceTable.PendingDevice> found = Optional.ofNullable(s.devices().pending().get(result.deviceId()));
        if (found.isEmpty()) {
            return Behaviors.same();
        }
        DeviceTable.PendingDevice p = found.get();
        DeviceTable devices = s.devices().withoutPending(result.deviceId());
        if (result instanceof VirtioNetActor.RealizeFailed f) {
            return reply(e, s.withDevices(devices), p.replyTo(), VmReply.Refused.rejected((f.error())));
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
        return reply(e, s.withDevices(devices), p.replyTo(), DONE);
    }

    private static Behavior<Command> onDeviceDel(Env e, VmState s, DeviceDel m) {
        Optional<DeviceTable.Nic> found = s.devices().nic(m.id());
        if (found.isEmpty()) {
            return reply(e, s, m.replyTo(), VmReply.Refused.deviceNotFound(m.id()));
        }
        if (s.coordinator().isPresent()) {
            return reply(e, s, m.replyTo(), VmReply.Refused.rejected(("device_del is not allowed during a migration")));
        }
        DeviceTable.Nic nic = found.get();
        e.ctx().unwatch(nic.ref());
        DeviceTable devices = s.devices().withoutNic(m.id());
        Optional<DeviceTable.Netdev> netdev = devices.netdev(nic.options().netdev());
        if (netdev.isPresent() && netdev.get().downscriptDue() && !nic.backendGone()) {
            // QEMU keeps the TAP open until netdev_del, whose down script runs before the close: the NIC
            // stops reading now and its queues keep their fds until then
            nic.ref().tell(new VirtioNetActor.Stop(0, e.ctx().getSystem().ignoreRef()));
            devices = devices.updateNetdev(netdev.get().options().id(), d -> d.holding(Optional.of(nic.ref())));
        } else {
            nic.ref().tell(new VirtioNetActor.Unplug());
        }
        return reply(e, s.withDevices(devices), m.replyTo(), DONE);
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
        return s.coordinator().filter(c -> c.equals(t.getRef())).isPresent() ? answerWaitingCancels(next.withoutCoordinator()) : next;
    }

    // ------------------------------------------------------------------ migration

    private static Behavior<Command> notIncoming(Env e, VmState s, MigrateIncoming m) {
        return reply(e, s, m.replyTo(), VmReply.Refused.rejected(("'-incoming' was not specified on the command line")));
    }

    /**
     * QEMU's migrate_fd_cancel sets {@code cancelling} before {@code migrate_cancel} returns: the reply
     * waits until the coordinator handled the cancel. The coordinator answers in order, so its answer to
     * a state question asked after the cancel comes after the report it made while cancelling, and
     * before anything the rollback brings (the answer goes straight into this mailbox: an extra actor in
     * between let the rollback's resume overtake it). Not ask: a future's callback would break the
     * simulation's determinism (docs/architecture.md decision 4). A coordinator that ends first answers
     * every waiting cancel ({@link #answerWaitingCancels}).
     */
    private static Behavior<Command> onMigrateCancel(Env e, VmState s, MigrateCancel m) {
        if (s.coordinator().isEmpty()) {
            return reply(e, s, m.replyTo(), DONE);
        }
        ActorRef<MigrationCoordinator.Command> c = s.coordinator().get();
        c.tell(new MigrationCoordinator.Cancel());
        c.tell(new MigrationCoordinator.GetState(e.ctx().messageAdapter(StateName.class, state -> CancelHandled.INSTANCE)));
        return next(e, s.withCancelWaiting(m.replyTo()));
    }

    /** The oldest waiting {@code migrate_cancel} is answered (none waits: a coordinator that ended answered it). */
    private static Behavior<Command> onCancelHandled(Env e, VmState s) {
        if (s.cancelsWaiting().isEmpty()) {
            return Behaviors.same();
        }
        s.cancelsWaiting().get(0).tell(DONE);
        return next(e, s.withoutOldestCancels(1));
    }

    /** The coordinator ended: no answer of its will come, every waiting cancel is done. */
    static VmState answerWaitingCancels(VmState s) {
        s.cancelsWaiting().forEach(r -> r.tell(DONE));
        return s.withoutOldestCancels(s.cancelsWaiting().size());
    }

    /**
     * QEMU's qmp_migrate_continue compares with the outgoing migration's status only
     * ({@code migrate_get_current()}): on a target that never migrated out that is {@code none}.
     */
    private static Behavior<Command> onMigrateContinue(Env e, VmState s, MigrateContinue m) {
        MigrationStatus current = s.outgoing() ? s.lastInfo().status() : MigrationStatus.NONE;
        if (m.expected().orElse(null) != current) {
            return reply(e, s, m.replyTo(), VmReply.Refused.rejected(("Migration not in expected state: "
                    + current.qmpName())));
        }
        if (current == MigrationStatus.PRE_SWITCHOVER) {
            s.coordinator().ifPresent(c -> c.tell(new MigrationCoordinator.ContinueSwitchover()));
        }
        return reply(e, s, m.replyTo(), DONE);
    }

    // ------------------------------------------------------------------ run state

    static VmState changeRunState(Env e, VmState s, RunState next) {
        if (s.runState() == RunState.RUNNING && next != RunState.RUNNING) {
            emit(e, s, VmEvent.STOP, Map.of());
        } else if (s.runState() != RunState.RUNNING && next == RunState.RUNNING) {
            emit(e, s, VmEvent.RESUME, Map.of());
        }
        return s.withRunState(next);
    }

    static void emit(Env e, VmState s, String event, Map<String, Object> data) {
        VmEvent ev = new VmEvent(event, data, e.config().os().clock().nanos());
        s.subscribers().forEach(sub -> sub.tell(ev));
    }

    // ------------------------------------------------------------------ helpers

    /** Runs {@code action}, which replies itself on success; a refused option becomes a {@link VmReply.Refused} with its text. */
    private static Behavior<Command> attempt(Env e, VmState s, ActorRef<VmReply> replyTo, Supplier<VmState> action) {
        try {
            return next(e, action.get());
        } catch (OptionException ex) {
            return reply(e, s, replyTo, VmReply.Refused.rejected(ex.getMessage()));
        } catch (IllegalArgumentException ex) {
            return reply(e, s, replyTo, VmReply.Refused.rejected((ex.getMessage())));
        }
    }

    private static Behavior<Command> reply(Env e, VmState s, ActorRef<VmReply> to, VmReply r) {
        to.tell(r);
        return next(e, s);
    }
}
