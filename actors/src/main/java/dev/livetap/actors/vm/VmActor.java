package dev.livetap.actors.vm;

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
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.options.VirtioNetRealizeCheck;
import dev.livetap.actors.tap.PassedTapFds;
import dev.livetap.actors.tap.TapBackendFactory;
import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.actors.tap.VhostException;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One VM endpoint (design decision 5: a process may hold several). It holds the run state, the
 * netdevs, the NICs (children), the migration parameters and capabilities, the last migration's
 * figures and the event subscribers, and spawns one {@link MigrationCoordinator} per migration.
 * Its protocol is what QMP needs; every reply is a {@link VmReply} whose error is QMP-ready.
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
            NicsAnswered, NicReply {
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

    private record NicsAnswered(long op, int index, Object reply, Throwable failure) implements Command {
    }

    /** Private: a NIC's reply (or its timeout), matched to its request by {@link dev.livetap.actors.Replies}. */
    private record NicReply(Object wrapped) implements Command {
    }

    public static Behavior<Command> create(VmConfig config) {
        return Behaviors.setup(ctx -> new VmActor(ctx, config).idle());
    }

    // ------------------------------------------------------------------ state

    /**
     * @param passed the fds of {@code fd=}/{@code fds=} while this netdev holds them (until a device
     *     takes them), else null; {@code passedTaken} once a device took them
     */
    private record Netdev(TapNetdevOptions options, List<VhostBackend.VhostQueue> vhostQueues, boolean downscriptDuty,
            PassedTapFds passed, boolean passedTaken) {
        Netdev withDuty(boolean duty) {
            return new Netdev(options, vhostQueues, duty, passed, passedTaken);
        }

        Netdev passedTakenByDevice() {
            return new Netdev(options, vhostQueues, downscriptDuty, null, true);
        }

        /** Closes the passed fds no device took (netdev_del, VM stop). */
        void closePassed() {
            if (passed != null) {
                OwnedFd.closeAll(passed.fds());
            }
        }
    }

    private record Nic(VirtioNetDeviceOptions options, String deviceId, ActorRef<VirtioNetActor.Command> ref,
            boolean peersWaitIncoming) {
    }

    private record PendingDevice(VirtioNetDeviceOptions options, ActorRef<VmReply> replyTo) {
    }

    private final ActorContext<Command> ctx;
    private final VmConfig config;
    private final TreeMap<String, Netdev> netdevs = new TreeMap<>();
    private final TreeMap<String, Nic> nics = new TreeMap<>();
    private final TreeMap<String, PendingDevice> pending = new TreeMap<>();
    private final List<ActorRef<VmEvent>> subscribers = new ArrayList<>();
    private final ActorRef<VirtioNetActor.RealizeResult> realizeAdapter;
    private final ActorRef<MigrationCoordinator.Report> reportAdapter;
    private final dev.livetap.actors.Replies<Command> nicReplies;
    private String lastAnnounced = "";
    private RunState runState;
    private boolean autostart;
    private MigrationParameters parameters = MigrationParameters.defaults();
    private MigrationCapabilities capabilities = MigrationCapabilities.defaults();
    private MigrationInfo lastInfo = MigrationInfo.NONE;
    private ActorRef<MigrationCoordinator.Command> coordinator;
    private boolean coordinatorIsSource;
    private int migrations;
    private long nextOp = 1;
    private final TreeMap<Long, Gather> ops = new TreeMap<>();

    private static final class Gather {
        final Object[] replies;
        int missing;
        final Consumer<List<Object>> onAll;

        Gather(int n, Consumer<List<Object>> onAll) {
            this.replies = new Object[n];
            this.missing = n;
            this.onAll = onAll;
        }
    }

    private VmActor(ActorContext<Command> ctx, VmConfig config) {
        this.ctx = ctx;
        this.config = config;
        this.runState = config.incoming() ? RunState.INMIGRATE : config.startPaused() ? RunState.PRELAUNCH : RunState.RUNNING;
        this.autostart = !config.startPaused();
        this.realizeAdapter = ctx.messageAdapter(VirtioNetActor.RealizeResult.class, Realize::new);
        this.reportAdapter = ctx.messageAdapter(MigrationCoordinator.Report.class, FromCoordinator::new);
        this.nicReplies = new dev.livetap.actors.Replies<>(ctx, NicReply::new,
                m -> ((VirtioNetActor.DeviceReply) m).deviceId(), VirtioNetActor.DeviceReply.class);
    }

    private Behavior<Command> idle() {
        return Behaviors.receive(Command.class)
                .onMessage(NetdevAdd.class, this::onNetdevAdd)
                .onMessage(NetdevDel.class, this::onNetdevDel)
                .onMessage(DeviceAdd.class, this::onDeviceAdd)
                .onMessage(DeviceDel.class, this::onDeviceDel)
                .onMessage(Realize.class, this::onRealize)
                .onMessage(MigrateSetParameters.class, m -> guarded(m.replyTo(), () -> {
                    parameters = parameters.apply(m.arguments());
                    return Map.of();
                }))
                .onMessage(QueryMigrateParameters.class, m -> reply(m.replyTo(), VmReply.ok(parameters.toQmp())))
                .onMessage(MigrateSetCapabilities.class, m -> guarded(m.replyTo(), () -> {
                    capabilities = capabilities.apply(m.arguments());
                    return Map.of();
                }))
                .onMessage(QueryMigrateCapabilities.class, m -> reply(m.replyTo(), VmReply.ok(capabilities.toQmp())))
                .onMessage(MigrateIncoming.class, this::onMigrateIncoming)
                .onMessage(Migrate.class, this::onMigrate)
                .onMessage(MigrateCancel.class, m -> {
                    if (coordinator != null) {
                        coordinator.tell(new MigrationCoordinator.Cancel());
                    }
                    return reply(m.replyTo(), VmReply.ok());
                })
                .onMessage(MigrateContinue.class, this::onMigrateContinue)
                .onMessage(QueryMigrate.class, m -> reply(m.replyTo(), VmReply.ok(lastInfo)))
                .onMessage(QueryStatus.class, m -> {
                    Map<String, Object> s = new LinkedHashMap<>();
                    s.put("running", runState == RunState.RUNNING);
                    s.put("status", runState.qmpName());
                    return reply(m.replyTo(), VmReply.ok(s));
                })
                .onMessage(Stop.class, this::onStop)
                .onMessage(Cont.class, this::onCont)
                .onMessage(Subscribe.class, m -> {
                    subscribers.add(m.subscriber());
                    return Behaviors.same();
                })
                .onMessage(QueryNics.class, m -> {
                    List<Nic> list = new ArrayList<>(nics.values());
                    askNics(list, VirtioNetActor.NicInfo.class, VirtioNetActor.GetInfo::new,
                            rs -> m.replyTo().tell(VmReply.ok(List.copyOf(rs))),
                            e -> m.replyTo().tell(VmReply.error(QmpError.generic(e))));
                    return Behaviors.same();
                })
                .onMessage(FromCoordinator.class, m -> onReport(m.report()))
                .onMessage(NicsAnswered.class, this::onNicsAnswered)
                .onMessage(NicReply.class, m -> {
                    Command answer = nicReplies.deliver(m.wrapped());
                    return answer == null ? Behaviors.same() : onNicsAnswered((NicsAnswered) answer);
                })
                .onSignal(Terminated.class, this::onTerminated)
                .onSignal(PostStop.class, s -> {
                    netdevs.values().forEach(Netdev::closePassed); // fds handed to queues close with them
                    return Behaviors.same();
                })
                .build();
    }

    // ------------------------------------------------------------------ netdevs and devices

    private Behavior<Command> onNetdevAdd(NetdevAdd m) {
        return guarded(m.replyTo(), () -> {
            TapNetdevOptions o;
            try {
                o = TapNetdevOptions.fromQmp(m.arguments());
                if (netdevs.containsKey(o.id())) {
                    throw new OptionException("Duplicate ID '" + o.id() + "' for netdev");
                }
                if (netdevs.size() >= MAX_NETDEVS) {
                    throw new OptionException("too many netdevs: this VM has " + netdevs.size() + " (limit " + MAX_NETDEVS + ")");
                }
            } catch (RuntimeException e) {
                OwnedFd.closeAll(m.fds()); // the fds came with the command: a refusal closes them
                throw e;
            }
            PassedTapFds passed = PassedTapFds.take(o, m.fds(), config.os()); // closes them all on refusal
            List<VhostBackend.VhostQueue> vqs = new ArrayList<>();
            if (o.waitsForIncomingFds() && o.vhostEnabled()) {
                // semantic 2: the target opens its own vhost fds at netdev creation
                try {
                    for (int q = 0; q < o.queueCount(); q++) {
                        vqs.add(config.vhost().open(q));
                    }
                } catch (VhostException e) {
                    vqs.forEach(config.vhost()::tearDown);
                    throw new OptionException("vhost-net requested but could not be initialized: " + e.getMessage());
                }
            }
            netdevs.put(o.id(), new Netdev(o, List.copyOf(vqs), !o.waitsForIncomingFds(), passed, false));
            return Map.of();
        });
    }

    private Behavior<Command> onNetdevDel(NetdevDel m) {
        Netdev n = netdevs.get(m.id());
        if (n == null) {
            return reply(m.replyTo(), VmReply.error(new QmpError(QmpError.DEVICE_NOT_FOUND,
                    "Device '" + m.id() + "' not found")));
        }
        for (Nic nic : nics.values()) {
            if (nic.options().netdev().equals(m.id())) {
                return reply(m.replyTo(), VmReply.error(QmpError.generic("netdev '" + m.id() + "' is in use by device '"
                        + nic.deviceId() + "'; device_del it first")));
            }
        }
        netdevs.remove(m.id());
        n.closePassed();
        n.vhostQueues().forEach(config.vhost()::tearDown);
        runDownscript(n);
        return reply(m.replyTo(), VmReply.ok());
    }

    /** Semantic 8: each side runs only its own downscript, and only while the duty is its own. */
    private void runDownscript(Netdev n) {
        Optional<String> script = n.options().downscriptPath();
        if (script.isPresent() && n.downscriptDuty()) {
            String ifname = n.options().ifname().orElse(n.options().id());
            ctx.getLog().info("netdev {}: running downscript {} {}", n.options().id(), script.get(), ifname);
            config.scripts().run(script.get(), ifname);
        } else if (script.isPresent()) {
            ctx.getLog().info("netdev {}: downscript not run (the duty is the other side's)", n.options().id());
        }
    }

    private Behavior<Command> onDeviceAdd(DeviceAdd m) {
        return guarded(m.replyTo(), () -> {
            Map<String, Object> args = new LinkedHashMap<>(m.arguments());
            Object ip = args.remove(GUEST_IP_ARGUMENT);
            VirtioNetDeviceOptions o = VirtioNetDeviceOptions.fromQmp(args);
            o.requireNetdevAmong(netdevs.keySet());
            List<String> used = new ArrayList<>();
            nics.values().forEach(n -> used.add(n.options().netdev()));
            pending.values().forEach(p -> used.add(p.options().netdev()));
            o.requireNetdevUnused(used);
            String deviceId = o.id().orElse(o.netdev());
            if (nics.containsKey(deviceId) || pending.containsKey(deviceId)) {
                throw new OptionException("Duplicate device ID '" + deviceId + "' for device");
            }
            if (nics.size() + pending.size() >= MAX_NICS) {
                throw new OptionException("too many NICs: this VM has " + (nics.size() + pending.size()) + " (limit "
                        + MAX_NICS + ")");
            }
            Netdev netdev = netdevs.get(o.netdev());
            if (netdev.passedTaken()) {
                throw new OptionException("netdev '" + o.netdev() + "' has no TAP fds left: the fds passed with its "
                        + (netdev.options().fd().isPresent() ? "fd=" : "fds=") + " were closed with the device that"
                        + " used them; netdev_del it and netdev_add it again with new fds");
            }
            TapBackendFactory factory = new TapBackendFactory(netdev.options(), netdev.passed(), config.os(),
                    netdev.vhostQueues().isEmpty() ? null : config.vhost(), netdev.vhostQueues());
            VirtioNetActor.realizeCheck(factory, runState); // QEMU's texts; nothing opened yet
            Ipv4Address guestIp = ip == null ? config.defaultGuestIp() : Ipv4Address.parse(String.valueOf(ip));
            VirtioNetActor.NicConfig nc = new VirtioNetActor.NicConfig(deviceId, o.macAddress(), guestIp, runState,
                    config.queueTimeout(), DISPATCHER, config.tracer());
            ctx.spawn(config.tracer().trace("nic-" + deviceId, VirtioNetActor.create(nc, factory, config.os().fds(),
                    realizeAdapter)), "nic-" + deviceId, DISPATCHER);
            if (netdev.passed() != null) {
                netdevs.put(o.netdev(), netdev.passedTakenByDevice()); // the NIC's queues own the fds now
            }
            pending.put(deviceId, new PendingDevice(o, m.replyTo()));
            return null; // answered when the NIC reports its realize
        });
    }

    private Behavior<Command> onRealize(Realize m) {
        PendingDevice p = pending.remove(m.result().deviceId());
        if (p == null) {
            return Behaviors.same();
        }
        if (m.result() instanceof VirtioNetActor.RealizeFailed f) {
            p.replyTo().tell(VmReply.error(QmpError.generic(f.error())));
            return Behaviors.same();
        }
        VirtioNetActor.Realized r = (VirtioNetActor.Realized) m.result();
        ctx.watch(r.nic());
        nics.put(r.deviceId(), new Nic(p.options(), r.deviceId(), r.nic(), r.peersWaitIncoming()));
        Netdev n = netdevs.get(p.options().netdev());
        if (!n.options().waitsForIncomingFds() && n.options().script().runs()) {
            config.scripts().run(n.options().script().optionValue(), n.options().ifname().orElse(n.options().id()));
        }
        if (runState == RunState.RUNNING) {
            r.nic().tell(new VirtioNetActor.Start(ctx.getSystem().ignoreRef()));
        }
        p.replyTo().tell(VmReply.ok());
        return Behaviors.same();
    }

    private Behavior<Command> onDeviceDel(DeviceDel m) {
        Nic n = nics.remove(m.id());
        if (n == null) {
            return reply(m.replyTo(), VmReply.error(new QmpError(QmpError.DEVICE_NOT_FOUND,
                    "Device '" + m.id() + "' not found")));
        }
        if (coordinator != null) {
            nics.put(m.id(), n);
            return reply(m.replyTo(), VmReply.error(QmpError.generic("device_del is not allowed during a migration")));
        }
        ctx.unwatch(n.ref());
        n.ref().tell(new VirtioNetActor.Unplug());
        return reply(m.replyTo(), VmReply.ok());
    }

    private Behavior<Command> onTerminated(Terminated t) {
        nics.values().removeIf(n -> {
            if (n.ref().equals(t.getRef())) {
                ctx.getLog().error("NIC {} stopped unexpectedly", n.deviceId());
                return true;
            }
            return false;
        });
        if (coordinator != null && coordinator.equals(t.getRef())) {
            coordinator = null;
        }
        return Behaviors.same();
    }

    // ------------------------------------------------------------------ migration

    private Behavior<Command> onMigrateIncoming(MigrateIncoming m) {
        return guarded(m.replyTo(), () -> {
            if (runState != RunState.INMIGRATE) {
                throw new OptionException("'-incoming' was not specified on the command line");
            }
            if (coordinator != null || lastInfo.status() == MigrationStatus.COMPLETED) {
                throw new OptionException("The incoming migration has already been started");
            }
            MigrationUri.Unix uri = unixOnly(MigrationUri.parse(m.uri()));
            String id = nextMigrationId();
            List<MigrationCoordinator.Nic> list = new ArrayList<>();
            nics.values().forEach(n -> list.add(new MigrationCoordinator.Nic(n.deviceId(), n.ref(), n.peersWaitIncoming())));
            coordinator = ctx.spawn(config.tracer().trace(id, MigrationCoordinator.target(new MigrationCoordinator.TargetSetup(id, uri, list,
                    config.transport(), config.os().clock(), config.timeouts()), reportAdapter)), id, DISPATCHER);
            coordinatorIsSource = false;
            lastInfo = MigrationInfo.starting(id); // see onMigrate
            ctx.watch(coordinator);
            return Map.of();
        });
    }

    private Behavior<Command> onMigrate(Migrate m) {
        return guarded(m.replyTo(), () -> {
            MigrationUri uri = MigrationUri.parse(m.uri());
            MigrationUri.requireChannelFor(parameters, uri); // semantic 1: fails at once, nothing changes
            MigrationUri.Unix unix = unixOnly(uri);
            if (coordinator != null) {
                throw new OptionException("There's a migration process in progress");
            }
            if (runState != RunState.RUNNING && runState != RunState.PAUSED && runState != RunState.PRELAUNCH) {
                throw new OptionException("cannot migrate in run state " + runState.qmpName());
            }
            String id = nextMigrationId();
            List<MigrationCoordinator.Nic> list = new ArrayList<>();
            nics.values().forEach(n -> list.add(new MigrationCoordinator.Nic(n.deviceId(), n.ref(),
                    VirtioNetRealizeCheck.backendTravels(parameters, n.options(), config.machine()))));
            StreamHeader header = StreamHeader.of(config.pid(), config.name(), config.machine().name());
            coordinator = ctx.spawn(config.tracer().trace(id, MigrationCoordinator.source(new MigrationCoordinator.SourceSetup(id, unix, parameters,
                    list, header, config.transport(), config.os().clock(), config.timeouts(),
                    capabilities.isOn(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER)), reportAdapter)), id,
                    DISPATCHER);
            coordinatorIsSource = true;
            // From the reply on, query-migrate describes this migration (status setup), as QEMU's does: the
            // coordinator's first report comes a moment later, and until then a client polling right after
            // 'migrate' read the previous migration's final status and took it for this one's (the cause of
            // the unmeasured hops in the end-to-end test and the demo).
            lastInfo = MigrationInfo.starting(id);
            ctx.watch(coordinator);
            return Map.of();
        });
    }

    /**
     * QEMU's qmp_migrate_continue compares with the outgoing migration's status only
     * ({@code migrate_get_current()}): on a target that never migrated out that is {@code none}.
     */
    private Behavior<Command> onMigrateContinue(MigrateContinue m) {
        MigrationStatus current = coordinatorIsSource ? lastInfo.status() : MigrationStatus.NONE;
        if (MigrationStatus.fromQmp(m.expectedStatus()).orElse(null) != current) {
            return reply(m.replyTo(), VmReply.error(QmpError.generic("Migration not in expected state: "
                    + current.qmpName())));
        }
        if (current == MigrationStatus.PRE_SWITCHOVER && coordinator != null) {
            coordinator.tell(new MigrationCoordinator.ContinueSwitchover());
        }
        return reply(m.replyTo(), VmReply.ok());
    }

    private static MigrationUri.Unix unixOnly(MigrationUri uri) {
        if (uri instanceof MigrationUri.Unix u) {
            return u;
        }
        throw new OptionException("livetap migrates only over UNIX sockets (unix:PATH); got " + uri.uri());
    }

    private String nextMigrationId() {
        migrations++;
        return "migration-" + config.name() + "-" + migrations;
    }

    private Behavior<Command> onReport(MigrationCoordinator.Report r) {
        if (r instanceof MigrationCoordinator.Progress p) {
            lastInfo = p.info();
            // A final status is announced with Finished, once this actor no longer counts the
            // migration as running: a client reacting to the event may migrate or unplug at once.
            if (!p.info().status().isFinal()) {
                emitMigrationStatus(p.info());
            }
        } else if (r instanceof MigrationCoordinator.RunStateChange c) {
            setRunState(c.state());
        } else if (r instanceof MigrationCoordinator.Finished f) {
            lastInfo = f.info();
            coordinator = null;
            if (f.succeeded()) {
                migrated(f);
            }
            emitMigrationStatus(f.info());
        }
        return Behaviors.same();
    }

    /** One MIGRATION event per (migration, status). */
    private void emitMigrationStatus(MigrationInfo info) {
        String key = info.migrationId() + "/" + info.status().qmpName();
        if (!key.equals(lastAnnounced)) {
            lastAnnounced = key;
            emit(VmEvent.MIGRATION, Map.of("status", info.status().qmpName()));
        }
    }

    private void migrated(MigrationCoordinator.Finished f) {
        if (coordinatorIsSource) {
            // the duty passes to the target with 'loaded', for the netdevs whose backend travelled
            if (f.backendHandedOver()) {
                for (Nic n : nics.values()) {
                    if (VirtioNetRealizeCheck.backendTravels(parameters, n.options(), config.machine())) {
                        netdevs.computeIfPresent(n.options().netdev(), (k, v) -> v.withDuty(false));
                    }
                }
            }
            return;
        }
        for (Nic n : nics.values()) {
            if (n.peersWaitIncoming()) {
                netdevs.computeIfPresent(n.options().netdev(), (k, v) -> v.withDuty(true));
            }
        }
        if (autostart && f.peerConfirmed()) {
            startNics(false, null);
        } else {
            setRunState(RunState.PAUSED);
        }
    }

    private Behavior<Command> onStop(Stop m) {
        if (runState == RunState.RUNNING) {
            List<Nic> list = new ArrayList<>(nics.values());
            askNics(list, VirtioNetActor.Stopped.class, VirtioNetActor.Stop::new, rs -> {
                setRunState(RunState.PAUSED);
                m.replyTo().tell(VmReply.ok());
            }, e -> m.replyTo().tell(VmReply.error(QmpError.generic(e))));
            return Behaviors.same();
        }
        if (runState == RunState.INMIGRATE) {
            autostart = false;
        }
        return reply(m.replyTo(), VmReply.ok());
    }

    private Behavior<Command> onCont(Cont m) {
        switch (runState) {
            case INMIGRATE:
                autostart = true; // QEMU: resume as soon as the incoming migration completes
                return reply(m.replyTo(), VmReply.ok());
            case PAUSED:
            case PRELAUNCH:
                startNics(true, m.replyTo());
                return Behaviors.same();
            case RUNNING:
                return reply(m.replyTo(), VmReply.ok());
            case POSTMIGRATE:
                return reply(m.replyTo(), VmReply.error(QmpError.generic(
                        "the VM was migrated away (postmigrate): its backends belong to the migration target")));
            default:
                return reply(m.replyTo(), VmReply.error(QmpError.generic("a migration is in progress (run state "
                        + runState.qmpName() + ")")));
        }
    }

    /** VM run: every queue reads again; the last one to start marks the end of the target's downtime. */
    private void startNics(boolean byCont, ActorRef<VmReply> replyTo) {
        List<Nic> list = new ArrayList<>(nics.values());
        askNics(list, VirtioNetActor.Started.class, VirtioNetActor.Start::new, rs -> {
            long last = 0;
            for (Object r : rs) {
                last = Math.max(last, ((VirtioNetActor.Started) r).lastReadingNanos());
            }
            if (!coordinatorIsSource && lastInfo.status() == MigrationStatus.COMPLETED && lastInfo.targetStartedNanos() == 0) {
                lastInfo = lastInfo.withTargetStarted(last == 0 ? config.os().clock().nanos() : last, byCont);
            }
            setRunState(RunState.RUNNING);
            if (replyTo != null) {
                replyTo.tell(VmReply.ok());
            }
        }, e -> {
            if (replyTo != null) {
                replyTo.tell(VmReply.error(QmpError.generic(e)));
            }
        });
    }

    private void setRunState(RunState next) {
        RunState before = runState;
        runState = next;
        if (before == RunState.RUNNING && next != RunState.RUNNING) {
            emit(VmEvent.STOP, Map.of());
        } else if (before != RunState.RUNNING && next == RunState.RUNNING) {
            emit(VmEvent.RESUME, Map.of());
        }
    }

    private void emit(String event, Map<String, Object> data) {
        VmEvent e = new VmEvent(event, data, config.os().clock().nanos());
        subscribers.forEach(s -> s.tell(e));
    }

    // ------------------------------------------------------------------ helpers

    private <R> void askNics(List<Nic> list, Class<R> cls,
            java.util.function.Function<ActorRef<R>, VirtioNetActor.Command> request, Consumer<List<Object>> onAll,
            Consumer<String> onFailure) {
        if (list.isEmpty()) {
            onAll.accept(List.of());
            return;
        }
        long op = nextOp++;
        ops.put(op, new Gather(list.size(), rs -> onAll.accept(rs)));
        for (int i = 0; i < list.size(); i++) {
            int index = i;
            nicReplies.ask(cls, list.get(i).deviceId(), list.get(i).ref(), config.queueTimeout(), request::apply, (r, ex) -> new NicsAnswered(op, index,
                    r, ex));
        }
        // failures go to onFailure once
        failures.put(op, onFailure);
    }

    private final TreeMap<Long, Consumer<String>> failures = new TreeMap<>();

    private Behavior<Command> onNicsAnswered(NicsAnswered a) {
        Gather g = ops.get(a.op());
        if (g == null) {
            return Behaviors.same();
        }
        if (a.failure() != null) {
            ops.remove(a.op());
            failures.remove(a.op()).accept("a NIC did not answer: " + a.failure().getMessage());
            return Behaviors.same();
        }
        if (g.replies[a.index()] == null) {
            g.missing--;
        }
        g.replies[a.index()] = a.reply();
        if (g.missing == 0) {
            ops.remove(a.op());
            failures.remove(a.op());
            g.onAll.accept(java.util.Arrays.asList(g.replies));
        }
        return Behaviors.same();
    }

    /** Runs {@code action}; an {@link OptionException} becomes a QMP error; a null result means "answered later". */
    private Behavior<Command> guarded(ActorRef<VmReply> replyTo, java.util.concurrent.Callable<Object> action) {
        Object result;
        try {
            result = action.call();
        } catch (OptionException e) {
            replyTo.tell(VmReply.error(new QmpError(e.errorClass(), e.getMessage())));
            return Behaviors.same();
        } catch (IllegalArgumentException e) {
            replyTo.tell(VmReply.error(QmpError.generic(e.getMessage())));
            return Behaviors.same();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        if (result != null) {
            replyTo.tell(VmReply.ok(result));
        }
        return Behaviors.same();
    }

    private static Behavior<Command> reply(ActorRef<VmReply> to, VmReply r) {
        to.tell(r);
        return Behaviors.same();
    }
}
