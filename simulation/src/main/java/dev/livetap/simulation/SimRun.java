package dev.livetap.simulation;

import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.guest.ProbeFrames;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.simulation.doubles.RecordingScriptRunner;
import dev.livetap.actors.migration.ReturnPath;
import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MachineType;
import dev.livetap.actors.options.MacAddress;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.tap.NetTapSchema;
import dev.livetap.actors.tap.NetTapState;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.simulation.faults.FaultyChannel;
import dev.livetap.simulation.faults.SimTransport;
import dev.livetap.simulation.invariants.Invariant;
import dev.livetap.simulation.invariants.Violation;
import dev.livetap.simulation.runtime.EventQueue;
import dev.livetap.simulation.runtime.SimSystem;
import dev.livetap.simulation.trace.RecordingOs;
import dev.livetap.simulation.trace.SimTracer;
import dev.livetap.simulation.trace.TraceLog;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One simulated migration: two in-memory processes of one kernel (source and target VM
 * endpoints running the production actors and codec), one fault at one phase, invariants after
 * every step, then the rules' follow-up (the owner answers ping; after a failure the source
 * resumes and a second migration succeeds) and a teardown that must leave no fd behind.
 * Everything runs on the calling thread, on virtual time.
 */
public final class SimRun {
    /** A bound on every run: a run that needs more steps is a liveness bug. */
    public static final long MAX_STEPS = 400_000;
    static final String IFNAME = "tap0";
    static final MacAddress HOST_MAC = MacAddress.parse("02:00:00:00:00:01");
    static final MacAddress GUEST_MAC = MacAddress.parse("52:54:00:12:34:56");
    static final Ipv4Address GUEST_IP = Ipv4Address.parse("10.0.0.2");
    static final int TAP_FLAGS = TunFlags.IFF_TAP | TunFlags.IFF_NO_PI | TunFlags.IFF_VNET_HDR | TunFlags.IFF_MULTI_QUEUE;

    /** What a run produced. */
    public record Result(RunOptions options, String outcome, boolean faultInjected, long downtimeMs,
            Violation violation, String traceHash, long steps, long traceLines, List<String> trace) {
        public boolean ok() {
            return violation == null;
        }
    }

    /** One VM endpoint of the run. */
    public final class Vm {
        final String name;
        final RecordingOs os;
        final SimTracer tracer;
        final SimTransport transport;
        final RecordingVhostBackend vhost = new RecordingVhostBackend();
        final boolean incoming;
        ActorRef<VmActor.Command> ref;
        FaultyChannel channel;
        final List<String> statuses = new ArrayList<>();
        final List<String> events = new ArrayList<>();
        boolean crashed;
        /** The VM actor stopped (it threw; not supervised) while its process lives on: its reactor still runs. */
        boolean actorStopped;
        boolean resumed;

        Vm(String name, boolean incoming) {
            this.name = name;
            this.incoming = incoming;
            this.resumed = !incoming;
            this.os = new RecordingOs(kernel.newProcess(name), trace);
            this.tracer = new SimTracer(name, trace);
            this.transport = new SimTransport(os, ch -> {
                channel = ch;
                onChannel(this, ch);
            });
        }

        public RecordingOs os() {
            return os;
        }

        public boolean crashed() {
            return crashed;
        }

        public List<String> statuses() {
            return statuses;
        }

        public String name() {
            return name;
        }

        MigrationStatus lastStatus() {
            return statuses.isEmpty() ? MigrationStatus.NONE : MigrationStatus.valueOf(statuses.get(statuses.size() - 1).toUpperCase());
        }
    }

    private final SimSystem sim;
    private final RunOptions o;
    private final List<Invariant> invariants;
    private final int index;
    final InMemoryKernel kernel = new InMemoryKernel();
    final TraceLog trace;
    private final EventQueue events = new EventQueue();
    private final List<ActorRef<?>> topLevel = new ArrayList<>();
    private final List<Vm> vms = new ArrayList<>();
    private final Set<Phase> reached = EnumSet.noneOf(Phase.class);
    private final Set<Integer> answered = new TreeSet<>();
    private final List<Runnable> hooks = new ArrayList<>();
    private Vm src;
    private Vm tgt;
    private int commands;
    private long steps;
    private boolean faultInjected;
    private boolean postLoadSeen;
    private boolean holding;
    private final ArrayDeque<Runnable> held = new ArrayDeque<>();
    private int nextSeq = 1;
    private int cancelsSent;
    private String outcome = "unknown";
    private long downtimeMs = -1;
    /** Extra faults for tests that plant bugs: called with the run once its VMs exist. */
    private final Consumer<SimRun> plant;

    public SimRun(SimSystem sim, RunOptions options, List<Invariant> invariants, int index, int keepTrace,
            Consumer<SimRun> plant) {
        this.sim = sim;
        this.o = options;
        this.invariants = invariants;
        this.index = index;
        this.plant = plant;
        kernel.clock().advance(Duration.ofSeconds(1));
        this.trace = new TraceLog(() -> kernel.clock().nanos(), keepTrace);
    }

    public RunOptions options() {
        return o;
    }

    public Vm source() {
        return src;
    }

    public Vm target() {
        return tgt;
    }

    public List<Vm> vms() {
        return List.copyOf(vms);
    }

    public InMemoryKernel kernel() {
        return kernel;
    }

    public Set<Phase> reached() {
        return reached;
    }

    public String outcome() {
        return outcome;
    }

    private final List<java.util.function.BiConsumer<Vm, FaultyChannel>> channelPlants = new ArrayList<>();

    /** For planted-bug tests: sees (and may re-wrap) each channel of the faulty migration after the faults' interceptors. */
    public void addChannelPlant(java.util.function.BiConsumer<Vm, FaultyChannel> plant) {
        channelPlants.add(plant);
    }

    private boolean planted;

    /**
     * For tests that plant a fault of their own in a fault-free run (e.g. an actor that throws in a
     * chosen state): the run no longer has to complete; the test checks the outcome itself.
     */
    public void plantedFault(String what) {
        planted = true;
        trace.add("planted " + what);
    }

    public void addHook(Runnable afterStep) {
        hooks.add(afterStep);
    }

    // ================================================================== the scenario

    public Result run() {
        Violation violation = null;
        try {
            scenario();
            for (Invariant i : invariants) {
                i.atEnd(this);
            }
        } catch (Violation v) {
            violation = v;
        } catch (RuntimeException e) {
            violation = new Violation("NoUncaughtFailure", e.toString() + " at " + Arrays.toString(
                    Arrays.copyOf(e.getStackTrace(), Math.min(6, e.getStackTrace().length))));
        } finally {
            stopAll();
        }
        return new Result(o, outcome, faultInjected, downtimeMs, violation, stoppedHash, steps,
                trace.count(), trace.lines());
    }

    private void scenario() {
        trace.add("run " + o.describe());
        src = new Vm("source", false);
        tgt = new Vm("target", true);
        vms.add(src);
        vms.add(tgt);
        if (plant != null) {
            plant.accept(this); // before the spawns: a plant may wrap every actor of the run, the VMs too
        }
        start(src);
        start(tgt);
        if (o.fault() == Fault.VHOST_SETUP_FAILURE && o.phase() == Phase.SETUP) {
            tgt.vhost.failOpen(0);
            injected(Phase.SETUP);
        } else if (o.fault() == Fault.VHOST_SETUP_FAILURE && o.phase() == Phase.POST_LOAD) {
            tgt.vhost.failSetUp(0);
        } else if (o.fault() == Fault.POST_LOAD_FAILURE) {
            tgt.vhost.failSetUp(o.queues() - 1);
        }
        configure(src, false);
        ping(src, 2);
        boolean tgtReady = configure(tgt, true);
        if (o.fault() == Fault.CANCEL_IDLE) {
            reached(Phase.SETUP);
            expectOk(call(src, VmActor.MigrateCancel::new), "migrate_cancel with no migration");
            injected(Phase.SETUP);
        }
        migrate(src, tgt, "/run/livetap/sim-1.sock");
        settle();
        sourceError = src.crashed ? null : info(src).errorDesc();
        targetError = tgt.crashed ? null : info(tgt).errorDesc();
        checkCancelMatrix();
        followUp();
        teardown();
    }

    private Vm newVm(String name, boolean incoming) {
        Vm vm = new Vm(name, incoming);
        vms.add(vm);
        return start(vm);
    }

    private Vm start(Vm vm) {
        String name = vm.name;
        boolean incoming = vm.incoming;
        vm.tracer.onStoppingCrash(() -> {
            // the endpoint is lost; its actors stop in Pekko's order and close their own fds (muted: not traced)
            vm.crashed = true;
            vm.actorStopped = true;
            vm.tracer.mute();
            vm.os.mute();
        });
        VmActor.VmConfig c = new VmActor.VmConfig(name, MachineType.parse("q35"), incoming, incoming && o.startPaused(),
                vm.os, vm.transport, new RecordingScriptRunner(), vm.vhost, o.timeouts(), Duration.ofMillis(
                        o.timeouts().step().toMillis()), GUEST_IP, vm.os.base().credentials().pid(), vm.tracer);
        vm.ref = spawn(vm.tracer.trace("vm", VmActor.create(c)), name);
        ActorRef<VmEvent> collector = spawn(Behaviors.receive(VmEvent.class).onMessage(VmEvent.class, e -> {
            onEvent(vm, e);
            return Behaviors.same();
        }).build(), name + "-events");
        vm.ref.tell(new VmActor.Subscribe(collector));
        return vm;
    }

    private <T> ActorRef<T> spawn(Behavior<T> b, String name) {
        ActorRef<T> ref = Adapter.spawn(sim.classic(), b, "r" + index + "-" + name);
        topLevel.add(ref);
        return ref;
    }

    /** netdev_add + device_add; false when the VM refused them (a fault at set-up). */
    private boolean configure(Vm vm, boolean incoming) {
        Map<String, Object> netdev = new LinkedHashMap<>();
        netdev.put("type", "tap");
        netdev.put("id", "net0");
        netdev.put("ifname", IFNAME);
        netdev.put("queues", o.queues());
        if (incoming) {
            netdev.put("incoming-fds", true);
            netdev.put("script", "no"); // the review's rule: a target's netdev runs no script
            netdev.put("downscript", "no");
            if (o.vhost()) {
                netdev.put("vhost", true);
            }
        }
        VmReply r = call(vm, rt -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(netdev), rt));
        if (!r.isOk()) {
            if (incoming && o.fault() == Fault.VHOST_SETUP_FAILURE) {
                return false;
            }
            throw new Violation("ScenarioSetUp", vm.name + " netdev_add refused: " + r);
        }
        Map<String, Object> nic = new LinkedHashMap<>();
        nic.put("driver", "virtio-net-pci");
        nic.put("id", "nic0");
        nic.put("netdev", "net0");
        nic.put("mq", o.queues() > 1);
        nic.put("mac", GUEST_MAC.toString());
        expectOk(call(vm, rt -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(nic), rt)), vm.name + " device_add");
        return true;
    }

    private void migrate(Vm from, Vm to, String path) {
        String uri = "unix:" + path;
        Map<String, Object> local = Map.of("local", true); // semantic 1: the target's switch too, before migrate-incoming
        expectOk(call(to, rt -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(local), rt)),
                to.name + " migrate-set-parameters");
        expectOk(call(to, rt -> new VmActor.MigrateIncoming(uri, rt)), to.name + " migrate-incoming");
        drive(() -> to.transport.listening() || to.lastStatus().isFinal(), "the target listens");
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("local", true);
        params.put("x-switchover-limit", from == src && to == tgt ? o.switchoverLimitMs() : 0);
        expectOk(call(from, rt -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(params), rt)),
                "migrate-set-parameters");
        if (from == src && to == tgt && o.fault() == Fault.CHANNEL_CLOSED && o.phase() == Phase.SETUP) {
            from.transport.refuseNextConnect();
            injected(Phase.SETUP);
        }
        expectOk(call(from, rt -> new VmActor.Migrate(uri, rt)), from.name + " migrate");
        drive(() -> (from.crashed || from.lastStatus().isFinal()) && (to.crashed || to.lastStatus().isFinal()
                || from.lastStatus() != MigrationStatus.COMPLETED && to.lastStatus() == MigrationStatus.NONE),
                "both sides finish the migration");
    }

    /** The rules after the migration: who owns the TAP answers ping; after a failure the source recovers and migrates again. */
    private void followUp() {
        if (src.crashed) {
            if (tgt.lastStatus() == MigrationStatus.COMPLETED && !tgt.crashed) {
                outcome = "source_crashed_target_owns";
                expectOk(call(tgt, VmActor.Cont::new), "cont on the target that loaded everything (source-crash rule)");
                ping(tgt, 2);
            } else {
                outcome = "source_crashed_device_lost";
            }
            return;
        }
        MigrationStatus s = src.lastStatus();
        if (s == MigrationStatus.COMPLETED) {
            outcome = "completed";
            if (!tgt.resumed) {
                expectOk(call(tgt, VmActor.Cont::new), "cont on the target");
            }
            drive(() -> tgt.resumed, "the target resumes");
            checkFreezeFrames(tgt);
            ping(tgt, 2);
            MigrationInfo si = info(src);
            MigrationInfo ti = info(tgt);
            if (ti.targetStartedNanos() > 0 && si.sourceStoppedNanos() > 0) {
                downtimeMs = (ti.targetStartedNanos() - si.sourceStoppedNanos()) / 1_000_000;
            }
            return;
        }
        outcome = s == MigrationStatus.CANCELLED ? "cancelled" : "failed";
        // SourceResumableAfterFailure: the source resumes with its queues, answers, and migrates again.
        expectOk(call(src, VmActor.Cont::new), "cont on the source after " + outcome);
        drive(() -> src.resumed, "the source resumes");
        checkFreezeFrames(src);
        ping(src, 2);
        Vm again = newVm("target-2", true);
        configure(again, true);
        migrate(src, again, "/run/livetap/sim-2.sock");
        if (src.lastStatus() != MigrationStatus.COMPLETED || again.lastStatus() != MigrationStatus.COMPLETED) {
            throw new Violation("SourceResumableAfterFailure", "the migration after a " + outcome
                    + " one did not complete: source " + src.lastStatus() + ", target " + again.lastStatus()
                    + " (" + info(src).errorDesc() + ")");
        }
        if (!again.resumed) {
            expectOk(call(again, VmActor.Cont::new), "cont on the second target");
        }
        drive(() -> again.resumed, "the second target resumes");
        ping(again, 2);
    }

    private void checkFreezeFrames(Vm owner) {
        int first = 10_000;
        drive(() -> {
            collectReplies();
            for (int i = 0; i < frozenSent; i++) {
                if (!answered.contains(first + i)) {
                    return false;
                }
            }
            return true;
        }, () -> {
            List<Integer> missing = new ArrayList<>();
            for (int i = 0; i < frozenSent; i++) {
                if (!answered.contains(first + i)) {
                    missing.add(first + i);
                }
            }
            return new Violation(owner == tgt ? "NoFrameLostOnSuccess" : "SourceResumableAfterFailure",
                    frozenSent + " echo requests sent while the VM was frozen; no reply from " + owner.name
                            + " for sequences " + missing + " (dropped by the TAP: " + kernel.droppedFrames(IFNAME) + ")");
        });
    }

    private int frozenSent;
    private String stoppedHash;
    private String sourceError;
    private String targetError;

    /** The first migration's error-desc on the source (query-migrate), null if none or crashed. */
    public String sourceError() {
        return sourceError;
    }

    public String targetError() {
        return targetError;
    }

    public boolean faultInjected() {
        return faultInjected;
    }

    private void checkCancelMatrix() {
        MigrationStatus s = src.crashed ? null : src.lastStatus();
        if (s == null) {
            return;
        }
        if (s == MigrationStatus.COMPLETED && !tgt.crashed && tgt.lastStatus() != MigrationStatus.COMPLETED) {
            throw new Violation("LegalStatusSequence", "the source reports completed but the target's migration is "
                    + tgt.lastStatus() + " (" + targetError + "): 'completed' without the target's 'loaded'");
        }
        switch (o.fault()) {
            case CANCEL_AFTER_FAILURE -> {
                if (s != MigrationStatus.FAILED) {
                    throw new Violation("LegalStatusSequence", "migrate_cancel after 'failed' must leave it failed, got " + s);
                }
            }
            case CANCEL_TWICE, CANCEL -> {
                if (o.phase() == Phase.CONT && s != MigrationStatus.COMPLETED) {
                    throw new Violation("LegalStatusSequence", "migrate_cancel after 'completed' must be a no-op, got " + s);
                }
                if (o.phase() != Phase.CONT && o.phase() != Phase.RETURN_PATH_LOADED && s != MigrationStatus.CANCELLED) {
                    throw new Violation("LegalStatusSequence", "migrate_cancel at " + o.phase().id()
                            + " must end 'cancelled', got " + s);
                }
            }
            case CANCEL_IDLE, MIGRATE_TWICE, CONT_DURING_MIGRATION, NONE -> {
                if (s != MigrationStatus.COMPLETED && !planted) {
                    throw new Violation("LegalStatusSequence", o.fault().id() + " must not stop the migration, got " + s
                            + " (" + info(src).errorDesc() + ")");
                }
            }
            default -> {
            }
        }
    }

    private void teardown() {
        for (Vm vm : vms) {
            if (vm.crashed) {
                continue;
            }
            VmReply d = call(vm, rt -> new VmActor.DeviceDel("nic0", rt));
            VmReply n = call(vm, rt -> new VmActor.NetdevDel("net0", rt));
            if (!n.isOk() && d.isOk()) {
                throw new Violation("ScenarioTearDown", vm.name + " netdev_del: " + n);
            }
        }
        settle();
        for (Vm vm : vms) {
            vm.transport.close();
        }
    }

    private void stopAll() {
        trace.add("stop");
        String hash = TraceLog.hex(trace.hash());
        vms.forEach(v -> v.tracer.mute());
        vms.forEach(v -> v.os.mute());
        stoppedHash = hash;
        for (ActorRef<?> r : topLevel) {
            sim.classic().stop(Adapter.toClassic(r));
        }
        sim.drain();
        sim.flushTimers();
    }

    // ================================================================== events and phases

    private void onEvent(Vm vm, VmEvent e) {
        vm.events.add(e.event() + e.data());
        if (e.event().equals(VmEvent.RESUME)) {
            vm.resumed = true;
        } else if (e.event().equals(VmEvent.STOP)) {
            vm.resumed = false;
        }
        if (!e.event().equals(VmEvent.MIGRATION)) {
            return;
        }
        String status = String.valueOf(e.data().get("status"));
        String before = vm.statuses.isEmpty() ? "none" : vm.statuses.get(vm.statuses.size() - 1);
        vm.statuses.add(status);
        dev.livetap.simulation.invariants.LegalStatusSequence.check(vm.incoming, before, status, vm.name);
        if (vm != src) {
            return;
        }
        if (status.equals("setup") && !reached.contains(Phase.SETUP)) {
            reached(Phase.SETUP);
            if (o.phase() == Phase.SETUP) {
                act();
            }
        } else if (status.equals("device") && frozenSent == 0 && vms.size() == 2) {
            // the VM is frozen: frames the host sends now wait in the TAP's rings
            for (int i = 0; i < o.freezeFrames(); i++) {
                kernel.hostSend(IFNAME, echo(100 + i, 10_000 + i));
            }
            frozenSent = o.freezeFrames();
        } else if (status.equals("completed") && !reached.contains(Phase.CONT) && vms.size() == 2) {
            reached(Phase.CONT);
            if (o.phase() == Phase.CONT) {
                act();
            }
        } else if (status.equals("failed") && o.fault() == Fault.CANCEL_AFTER_FAILURE && faultInjected) {
            src.ref.tell(new VmActor.MigrateCancel(sim.system().ignoreRef()));
        }
    }

    private void reached(Phase p) {
        reached.add(p);
        trace.add("phase " + p.id());
        if (o.fault().isActorCrash() && o.phase() == p && !faultInjected) {
            armCrash(p);
        }
    }

    private static final Set<String> ROLE_EVENTS = Set.of("NicReply", "StreamStarted", "StreamSent", "StreamDone");

    /**
     * An actor crash: the first matching delivery after phase {@code p} throws inside the actor's
     * supervision (SimTracer). Only messages that carry no fds are chosen: a throw loses the
     * message, and fds riding on a lost message are the handler's to close, not the supervisor's.
     */
    private void armCrash(Phase p) {
        boolean sourceSide = switch (o.fault()) {
            case SOURCE_ROLE_CRASH -> true;
            case TARGET_ROLE_CRASH -> false;
            default -> p.ordinal() <= Phase.VMDESC.ordinal();
        };
        java.util.function.BiPredicate<String, Object> when = switch (o.fault()) {
            case TAP_CRASH -> (a, m) -> a.contains("/peer-") && (m instanceof PeerBackend.Stop || m instanceof PeerBackend.Start
                    || m instanceof PeerBackend.Save || m instanceof PeerBackend.Rollback || m instanceof PeerBackend.Discard
                    || m instanceof PeerBackend.Release || m instanceof PeerBackend.GetStatus);
            case NIC_CRASH -> (a, m) -> a.startsWith("nic-") && !a.contains("/") && m instanceof VirtioNetActor.Request
                    && !(m instanceof VirtioNetActor.LoadSection);
            case GUEST_CRASH -> (a, m) -> a.endsWith("/guest") && (m instanceof GuestActor.Snapshot || m instanceof GuestActor.Restore);
            case VM_CRASH -> (a, m) -> a.equals("vm") && m.getClass().getSimpleName().equals("FromCoordinator");
            default -> (a, m) -> !a.equals("vm") && !a.startsWith("nic-") && ROLE_EVENTS.contains(m.getClass().getSimpleName());
        };
        (sourceSide ? src : tgt).tracer.crashOnce((a, m) -> {
            boolean hit = when.test(a, m);
            if (hit) {
                injected(p);
            }
            return hit;
        });
    }

    private void injected(Phase p) {
        if (!faultInjected) {
            faultInjected = true;
            trace.add("fault " + o.fault().id() + " at " + p.id());
        }
    }

    /** Faults that act through commands or crashes, at the chosen phase. */
    private void act() {
        switch (o.fault()) {
            case CANCEL -> {
                injected(o.phase());
                src.ref.tell(new VmActor.MigrateCancel(sim.system().ignoreRef()));
            }
            case CANCEL_TWICE -> {
                injected(o.phase());
                src.ref.tell(new VmActor.MigrateCancel(sim.system().ignoreRef()));
                src.ref.tell(new VmActor.MigrateCancel(sim.system().ignoreRef()));
            }
            case MIGRATE_TWICE -> {
                injected(o.phase());
                tellExpectingError(src, rt -> new VmActor.Migrate("unix:/run/livetap/sim-1.sock", rt), "a second migrate");
            }
            case CONT_DURING_MIGRATION -> {
                injected(o.phase());
                src.ref.tell(new VmActor.Cont(sim.system().ignoreRef()));
                tgt.ref.tell(new VmActor.Cont(sim.system().ignoreRef()));
            }
            case TARGET_CRASH -> {
                injected(o.phase());
                if (o.phase() == Phase.POST_LOAD) {
                    // at once, inside the delivery of the queue's Load: the process dies while it
                    // loads, before any answer of the queue can leave it (a crash queued behind the
                    // actors' messages would let a short reply chain reach the source first)
                    crash(tgt);
                } else {
                    events.at(now(), "crash target", () -> crash(tgt));
                }
            }
            case SOURCE_CRASH -> {
                injected(o.phase());
                events.at(now(), "crash source", () -> crash(src));
            }
            case CHANNEL_CLOSED -> {
                if (src.channel != null && src.channel.socket().isOpen()) {
                    injected(o.phase());
                    kernel.faults().dropConnection(src.channel.socket());
                }
            }
            default -> {
            }
        }
    }

    private void crash(Vm vm) {
        if (vm.crashed) {
            return;
        }
        vm.crashed = true;
        vm.tracer.mute();
        if (vm.channel != null) {
            vm.channel.kill();
        }
        vm.os.crash();
        sim.classic().stop(Adapter.toClassic(vm.ref));
    }

    private void onChannel(Vm vm, FaultyChannel ch) {
        if (vms.size() > 2 || (vm != src && vm != tgt)) {
            return; // the follow-up migration runs without faults
        }
        if (vm == src) {
            ch.interceptSends(this::onSourceSend);
            ch.interceptReceives(new Holding(Phase.RETURN_PATH_LOADED, true));
        } else {
            ch.interceptSends(this::onTargetSend);
            ch.interceptReceives(new Holding(null, false));
            vm.tracer.onDeliver(this::onTargetDeliver);
        }
        channelPlants.forEach(p -> p.accept(vm, ch));
    }

    private static Phase phaseOf(String kind) {
        return switch (kind) {
            case "header" -> Phase.HEADER;
            case "section" -> Phase.DEVICE_SECTION;
            case "end" -> Phase.END_MARKER;
            case "vmdesc" -> Phase.VMDESC;
            case "return" -> Phase.RETURN_PATH_LOADED;
            default -> null;
        };
    }

    private CompletionStage<Void> onSourceSend(byte[] payload, List<OwnedFd> fds, FaultyChannel.Sender next) {
        Phase p = phaseOf(FaultyChannel.kind(payload));
        if (p == null) {
            return next.send(payload, fds);
        }
        reached(p);
        if (p == Phase.DEVICE_SECTION && !fds.isEmpty()) {
            reached(Phase.QUEUE_FD);
        }
        boolean here = o.phase() == p || (o.phase() == Phase.QUEUE_FD && p == Phase.DEVICE_SECTION && !fds.isEmpty());
        if (!here) {
            return next.send(payload, fds);
        }
        switch (o.fault()) {
            case CHANNEL_CLOSED, CANCEL_AFTER_FAILURE -> {
                injected(p);
                kernel.faults().dropConnection(src.channel.socket());
                return next.send(payload, fds);
            }
            case SOURCE_CRASH -> {
                injected(p);
                crash(src);
                return new CompletableFuture<>(); // the process dies before this frame leaves
            }
            case MISSING_SECTION -> {
                injected(p);
                return CompletableFuture.completedFuture(null);
            }
            case SECTION_VERSION_MISMATCH, UNKNOWN_SECTION -> {
                byte[] patched = SectionPatch.patch(payload, o.fault() == Fault.SECTION_VERSION_MISMATCH);
                if (patched != null) {
                    injected(p);
                    return next.send(patched, fds);
                }
                return next.send(payload, fds);
            }
            case EMFILE_ON_RECEIVE -> {
                injected(Phase.QUEUE_FD);
                kernel.faults().truncateFdsOnNextRecvmsg(tgt.channel.socket());
                return next.send(payload, fds);
            }
            case FD_NOT_TAP -> {
                injected(Phase.QUEUE_FD);
                OwnedFd[] pipe = src.os.fds().pipe();
                List<OwnedFd> swapped = new ArrayList<>(fds);
                swapped.set(o.faultQueue() % fds.size(), pipe[0]);
                CompletionStage<Void> r = next.send(payload, swapped);
                pipe[0].close();
                pipe[1].close();
                return r;
            }
            case SAME_FD_TWICE -> {
                injected(Phase.QUEUE_FD);
                List<OwnedFd> swapped = new ArrayList<>(fds);
                int k = o.faultQueue() % fds.size();
                swapped.set(k, fds.get((k + 1) % fds.size()));
                return next.send(payload, swapped);
            }
            case PRE_LOAD_FAILURE -> {
                injected(p);
                preloadTargetQueue(o.faultQueue());
                return next.send(payload, fds);
            }
            default -> {
                act();
                return next.send(payload, fds);
            }
        }
    }

    /** A target queue gets an fd before its state arrives (the target opens one more queue of the TAP itself). */
    private void preloadTargetQueue(int queue) {
        ActorRef<PeerBackend.Command> peer = tgt.tracer.ref("nic-nic0/peer-" + queue);
        if (peer == null) {
            throw new Violation("ScenarioSetUp", "no traced peer-" + queue + " on the target");
        }
        OwnedFd fd = tgt.os.tun().openQueues(IFNAME, 1, TAP_FLAGS).get(0);
        NetTapState s = new NetTapState(fd, true, false, false, false, true, 0);
        peer.tell(new PeerBackend.Load(NetTapSchema.toStruct(s), sim.system().ignoreRef()));
    }

    private CompletionStage<Void> onTargetSend(byte[] payload, List<OwnedFd> fds, FaultyChannel.Sender next) {
        if (!Arrays.equals(payload, ReturnPath.loaded())) {
            return next.send(payload, fds);
        }
        reached(Phase.RETURN_PATH_LOADED);
        if (o.phase() != Phase.RETURN_PATH_LOADED) {
            return next.send(payload, fds);
        }
        switch (o.fault()) {
            case CHANNEL_CLOSED -> {
                injected(Phase.RETURN_PATH_LOADED);
                kernel.faults().dropConnection(tgt.channel.socket());
            }
            case SOURCE_CRASH -> {
                injected(Phase.RETURN_PATH_LOADED);
                crash(src);
            }
            case CANCEL, MIGRATE_TWICE -> act();
            default -> {
            }
        }
        return next.send(payload, fds);
    }

    private void onTargetDeliver(String actor, Object msg) {
        if (postLoadSeen || !(msg instanceof PeerBackend.Load) || !actor.contains("/peer-")) {
            return;
        }
        postLoadSeen = true;
        reached(Phase.POST_LOAD);
        if (o.phase() != Phase.POST_LOAD) {
            return;
        }
        switch (o.fault()) {
            case POST_LOAD_FAILURE, VHOST_SETUP_FAILURE -> injected(Phase.POST_LOAD);
            case CHANNEL_CLOSED -> {
                injected(Phase.POST_LOAD);
                kernel.faults().dropConnection(tgt.channel.socket());
            }
            default -> act();
        }
    }

    /** Receive side: truncation, corruption and holding of frames (and of the end of the channel behind them). */
    private final class Holding implements FaultyChannel.ReceiveInterceptor {
        private final Phase only;
        private final boolean sourceSide;

        Holding(Phase only, boolean sourceSide) {
            this.only = only;
            this.sourceSide = sourceSide;
        }

        @Override
        public void onFrame(Frame frame, Consumer<Frame> next) {
            if (holding) {
                held.add(() -> next.accept(frame));
                return;
            }
            Phase p = phaseOf(FaultyChannel.kind(frame.payload()));
            if (p == Phase.RETURN_PATH_LOADED && !Arrays.equals(frame.payload(), ReturnPath.loaded())) {
                p = null;
            }
            boolean here = p != null && p == o.phase() && (only == null ? p != Phase.RETURN_PATH_LOADED : p == only)
                    && !faultInjected;
            if (!here) {
                next.accept(frame);
                return;
            }
            switch (o.fault()) {
                case TRUNCATED_FRAME -> {
                    injected(p);
                    byte[] b = frame.payload();
                    next.accept(new Frame(Arrays.copyOf(b, b.length / 2), frame.fds()));
                }
                case CORRUPTED_BYTES -> {
                    injected(p);
                    byte[] b = frame.payload();
                    b[o.corruptOffset() % b.length] ^= (byte) o.corruptMask();
                    next.accept(new Frame(b, frame.fds()));
                }
                case DELAY_BEYOND_TIMEOUT, SWITCHOVER_LIMIT -> {
                    injected(p);
                    holding = true;
                    held.add(() -> next.accept(frame));
                    events.at(now() + o.delayMs() * 1_000_000, "release held frames", () -> {
                        holding = false;
                        while (!held.isEmpty() && !holding) {
                            held.poll().run();
                        }
                    });
                }
                default -> next.accept(frame);
            }
        }

        @Override
        public void onClosed(Throwable cause, Consumer<Throwable> next) {
            if (holding) {
                held.add(() -> next.accept(cause));
                return;
            }
            next.accept(cause);
        }

        @Override
        public void channelClosed() {
            holding = false;
            while (!held.isEmpty()) {
                held.poll().run();
            }
        }
    }

    // ================================================================== driving

    long now() {
        return kernel.clock().nanos();
    }

    /** Steps until {@code done} holds; a Violation (liveness) if it never does. */
    public void drive(BooleanSupplier done, String what) {
        drive(done, () -> new Violation("Liveness", "never happened: " + what + " (after " + steps + " steps, at "
                + now() / 1_000_000 + " ms virtual; source " + src.statuses + ", target " + tgt.statuses + ")"));
    }

    private void drive(BooleanSupplier done, java.util.function.Supplier<Violation> otherwise) {
        while (!done.getAsBoolean()) {
            if (!step()) {
                if (!advanceTime()) {
                    throw otherwise.get();
                }
            }
        }
    }

    /** Runs until nothing is left to do at this virtual instant, then lets pending timers fire (bounded). */
    private void settle() {
        while (step()) {
            // until quiescent at this instant
        }
    }

    /** One step: a burst of executor tasks, one sweep of each live process's reactor, the due events; invariants. */
    private boolean step() {
        if (++steps > MAX_STEPS) {
            throw new Violation("Liveness", "the run took more than " + MAX_STEPS + " steps");
        }
        boolean progressed = false;
        for (int i = 0; i < o.burst() && sim.executor().runOne(); i++) {
            progressed = true;
        }
        for (int k = 0; k < vms.size(); k++) {
            Vm vm = vms.get(o.sourceFirst() ? k : vms.size() - 1 - k);
            if (!vm.crashed || vm.actorStopped) {
                progressed |= vm.os.base().reactor().runOnce();
            }
        }
        progressed |= events.runDue(now());
        collectReplies();
        for (Runnable h : hooks) {
            h.run();
        }
        for (Invariant inv : invariants) {
            inv.afterStep(this);
        }
        return progressed;
    }

    /** Jumps virtual time (the kernel's clock and Pekko's scheduler together) to the next timer or event. */
    private boolean advanceTime() {
        long timerMs = sim.msToNextTimer();
        long eventNs = events.nextDeadline();
        long eventMs = eventNs == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(0, (eventNs - now() + 999_999) / 1_000_000);
        long ms = Math.min(timerMs, eventMs);
        if (ms == Long.MAX_VALUE || ms > 600_000) {
            return false;
        }
        ms = Math.max(1, ms);
        kernel.clock().advance(Duration.ofMillis(ms));
        sim.timePasses(ms);
        return true;
    }

    // ================================================================== commands and the host side

    private VmReply call(Vm vm, Function<ActorRef<VmReply>, VmActor.Command> command) {
        CompletableFuture<VmReply> f = new CompletableFuture<>();
        ActorRef<VmReply> replyTo = spawn(Behaviors.receive(VmReply.class).onMessage(VmReply.class, r -> {
            f.complete(r);
            return Behaviors.stopped();
        }).build(), "c" + (++commands));
        VmActor.Command c = command.apply(replyTo);
        vm.ref.tell(c);
        drive(() -> f.isDone() || vm.crashed, "a reply from " + vm.name + " to " + c.getClass().getSimpleName());
        return f.isDone() ? f.join() : VmReply.Refused.rejected("crashed");
    }

    private void tellExpectingError(Vm vm, Function<ActorRef<VmReply>, VmActor.Command> command, String what) {
        ActorRef<VmReply> replyTo = spawn(Behaviors.receive(VmReply.class).onMessage(VmReply.class, r -> {
            if (r.isOk()) {
                throw new Violation("LegalStatusSequence", what + " during a migration was accepted");
            }
            return Behaviors.stopped();
        }).build(), "c" + (++commands));
        vm.ref.tell(command.apply(replyTo));
    }

    private void expectOk(VmReply r, String what) {
        if (!r.isOk()) {
            throw new Violation("ScenarioCommand", what + " failed: " + r);
        }
    }

    private MigrationInfo info(Vm vm) {
        VmReply r = call(vm, VmActor.QueryMigrate::new);
        return r instanceof VmReply.Migration m ? m.info() : MigrationInfo.NONE;
    }

    static byte[] echo(int host, int sequence) {
        return ProbeFrames.echoRequest(HOST_MAC, GUEST_MAC, Ipv4Address.parse("10.0.1." + host), GUEST_IP, sequence,
                0x4C54, sequence, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, 0);
    }

    private void collectReplies() {
        if (!kernel.tapExists(IFNAME)) {
            return;
        }
        for (var f = kernel.hostReceive(IFNAME); f.isPresent(); f = kernel.hostReceive(IFNAME)) {
            byte[] b = f.get();
            if (b.length >= 42 && b[12] == 0x08 && b[13] == 0x00 && b[23] == 1 && b[34] == 0) {
                answered.add(((b[40] & 0xFF) << 8) | (b[41] & 0xFF));
            }
        }
    }

    /** Echo requests from {@code count} host addresses (spread over the queues); the VM's guest must answer each. */
    private void ping(Vm owner, int count) {
        int first = nextSeq;
        nextSeq += count;
        for (int i = 0; i < count; i++) {
            kernel.hostSend(IFNAME, echo(1 + (first + i) % 200, first + i));
        }
        drive(() -> {
            for (int i = 0; i < count; i++) {
                if (!answered.contains(first + i)) {
                    return false;
                }
            }
            return true;
        }, () -> new Violation(owner == src ? "SourceResumableAfterFailure" : "NoFrameLostOnSuccess",
                owner.name + " (the TAP's owner by the rules) does not answer ping (sequences " + first + ".."
                        + (first + count - 1) + "; TAP exists: " + kernel.tapExists(IFNAME) + ")"));
    }

    /** For invariants: the status history and last error of a VM (query-migrate). */
    public String errorOf(Vm vm) {
        if (vm.crashed) {
            return null;
        }
        return info(vm).errorDesc();
    }
}
