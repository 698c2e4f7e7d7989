package dev.livetap.actors.nic;

import dev.livetap.actors.RoutineLog;
import dev.livetap.actors.FanOut;
import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.StateName;
import dev.livetap.actors.Tracer;
import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.guest.GuestCounters;
import dev.livetap.actors.nic.NicStates.Nic;
import dev.livetap.actors.nic.NicStates.State;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.MacAddress;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.VirtioNetRealizeCheck;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.StateStruct;
import dev.livetap.nativeio.FdInspector;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.DeadLetterSuppression;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One virtio-net NIC (the frontend). It realizes against its peers (design semantic 3), spawns one
 * peer backend per queue and the guest stand-in, stops and starts the queues with the VM, and
 * saves and loads the {@code virtio-net} section. It knows nothing of TAP: each peer backend
 * describes, saves and loads its own state ({@link PeerBackend}). On load it checks the queues
 * together before any queue takes an fd: one fd per queue, no open file twice (kcmp); any
 * refusal closes every fd that arrived.
 *
 * <p>A peer that dies takes the NIC with it (death pact): its owner sees the NIC terminate and
 * fails any migration in progress.
 *
 * <p><b>Supervision: resume</b> ({@link #SUPERVISION}). A handler that throws loses its message; the
 * state record (open gathers, stash, host features) stays as the last handler returned it, so the
 * asker's own timeout turns the loss into a failed step that the migration rolls back. Restart
 * would stop the peers (Pekko stops children on restart, and a queue's PostStop closes its fd,
 * including one a frame in flight still borrows) and forget the stashed saves whose askers wait;
 * stop would take the device away from a VM that may still own its TAP. The NIC holds no fd itself:
 * the fds of a section being loaded are closed by the handler that refuses them.
 */
public final class VirtioNetActor {

    /** Resume: see the class comment; logged at ERROR by Pekko. */
    public static final SupervisorStrategy SUPERVISION = SupervisorStrategy.resume();

    /** What the NIC was created with. */
    public record NicConfig(String deviceId, MacAddress mac, Ipv4Address guestIp, RunState runStateAtRealize,
            Duration timeout, DispatcherSelector dispatcher, Tracer tracer) {
        public NicConfig(String deviceId, MacAddress mac, Ipv4Address guestIp, RunState runStateAtRealize,
                Duration timeout, DispatcherSelector dispatcher) {
            this(deviceId, mac, guestIp, runStateAtRealize, timeout, dispatcher, Tracer.NONE);
        }
    }

    public sealed interface Command permits Request, Release, Unplug, GetState, PeerReply, GuestReply, GatherTimedOut {
    }

    /**
     * A request that is answered: its reply carries the same {@code requestId}, so the asker matches
     * the reply to exactly this request ({@link dev.livetap.actors.FanOut}); 0 where the asker does not
     * need it.
     */
    public sealed interface Request extends Command permits DescribeSection, Stop, Start, SaveSection, LoadSection,
            Rollback, Discard, GetInfo {
        long requestId();
    }

    /** Every reply of a NIC names its device and the request it answers. */
    public interface DeviceReply {
        String deviceId();

        long requestId();
    }

    /** The schema the target's decoder loads this NIC's section with. */
    public record DescribeSection(long requestId, ActorRef<SectionSchema> replyTo, String migrationId)
            implements Request, MigrationMdc.Tagged {
        public DescribeSection(long requestId, ActorRef<SectionSchema> replyTo) {
            this(requestId, replyTo, null);
        }
    }

    public record SectionSchema(long requestId, String deviceId, String sectionName, Schema schema) implements DeviceReply {
    }

    public record Stop(long requestId, ActorRef<Stopped> replyTo, String migrationId) implements Request, MigrationMdc.Tagged {
        public Stop(long requestId, ActorRef<Stopped> replyTo) {
            this(requestId, replyTo, null);
        }

        public Stop(ActorRef<Stopped> replyTo) {
            this(0, replyTo);
        }
    }

    /** @param lastStopNanos when the last queue stopped reading (CLOCK_MONOTONIC) */
    public record Stopped(long requestId, String deviceId, long lastStopNanos) implements DeviceReply {
    }

    /** @param migrationId the migration that starts the VM (a target's autostart, a failed source's resume), or null */
    public record Start(long requestId, ActorRef<Started> replyTo, String migrationId) implements Request, MigrationMdc.Tagged {
        public Start(long requestId, ActorRef<Started> replyTo) {
            this(requestId, replyTo, null);
        }

        public Start(ActorRef<Started> replyTo) {
            this(0, replyTo);
        }
    }

    /** @param lastReadingNanos when the last queue started reading again; 0 if none could */
    public record Started(long requestId, String deviceId, long lastReadingNanos, int queuesReading) implements DeviceReply {
    }

    /** Saves the section; the VM must be stopped. With {@code backendTravels} the peers' states go in {@code virtio-net-nic}. */
    public record SaveSection(long requestId, boolean backendTravels, ActorRef<SaveResult> replyTo, String migrationId)
            implements Request, MigrationMdc.Tagged {
        public SaveSection(long requestId, boolean backendTravels, ActorRef<SaveResult> replyTo) {
            this(requestId, backendTravels, replyTo, null);
        }

        public SaveSection(boolean backendTravels, ActorRef<SaveResult> replyTo) {
            this(0, backendTravels, replyTo);
        }
    }

    public sealed interface SaveResult extends DeviceReply permits SectionSaved, SectionSaveFailed {
        String deviceId();
    }

    /** The section; its fds are borrowed from the peers until {@link Release} or {@link Rollback}. */
    public record SectionSaved(long requestId, String deviceId, Section section) implements SaveResult {
    }

    public record SectionSaveFailed(long requestId, String deviceId, String reason) implements SaveResult {
    }

    /** Loads a section (its fds pass to this NIC: they are closed on refusal). */
    public record LoadSection(long requestId, Section section, ActorRef<LoadResult> replyTo, String migrationId)
            implements Request, MigrationMdc.Tagged {
        public LoadSection(long requestId, Section section, ActorRef<LoadResult> replyTo) {
            this(requestId, section, replyTo, null);
        }

        public LoadSection(Section section, ActorRef<LoadResult> replyTo) {
            this(0, section, replyTo);
        }
    }

    public sealed interface LoadResult extends DeviceReply permits SectionLoaded, SectionLoadFailed {
        String deviceId();
    }

    public record SectionLoaded(long requestId, String deviceId, long hostFeatures) implements LoadResult {
    }

    public record SectionLoadFailed(long requestId, String deviceId, String reason) implements LoadResult {
    }

    /**
     * Source: the target answered {@code loaded}; every peer gives its resource up. Lost without news
     * when the VM stops first: the peers' stop gives it up too.
     */
    public record Release(String migrationId) implements Command, MigrationMdc.Tagged, DeadLetterSuppression {
        public Release() {
            this(null);
        }
    }

    /** Source: the migration failed; every peer takes its state back, stopped. */
    public record Rollback(long requestId, ActorRef<RolledBack> replyTo, String migrationId)
            implements Request, MigrationMdc.Tagged {
        public Rollback(long requestId, ActorRef<RolledBack> replyTo) {
            this(requestId, replyTo, null);
        }

        public Rollback(ActorRef<RolledBack> replyTo) {
            this(0, replyTo);
        }
    }

    public record RolledBack(long requestId, String deviceId) implements DeviceReply {
    }

    /** Target: the migration failed; every peer closes what it received. */
    public record Discard(long requestId, ActorRef<Discarded> replyTo, String migrationId)
            implements Request, MigrationMdc.Tagged {
        public Discard(long requestId, ActorRef<Discarded> replyTo) {
            this(requestId, replyTo, null);
        }
    }

    public record Discarded(long requestId, String deviceId, int closed) implements DeviceReply {
    }

    public record GetInfo(long requestId, ActorRef<NicInfo> replyTo) implements Request {
        public GetInfo(ActorRef<NicInfo> replyTo) {
            this(0, replyTo);
        }
    }

    public record NicInfo(long requestId, String deviceId, int queuePairs, long hostFeatures, boolean peersWaitIncoming,
            List<PeerBackend.Status> queues, GuestActor.GuestState guest) implements DeviceReply {
    }

    /** device_del: close every peer and stop. */
    public record Unplug() implements Command {
    }

    /** Read-only: the current state's name ({@code idle}, {@code stopping}), for the state-diagram test. */
    public record GetState(ActorRef<StateName> replyTo) implements Command {
    }

    /** Realize outcome, sent once to whoever created the NIC. */
    public sealed interface RealizeResult permits Realized, RealizeFailed {
        String deviceId();
    }

    public record Realized(String deviceId, ActorRef<Command> nic, int queuePairs, boolean peersWaitIncoming)
            implements RealizeResult {
    }

    public record RealizeFailed(String deviceId, String error) implements RealizeResult {
    }

    /** Private: a peer's reply, matched to its request by its request id ({@link FanOut}). */
    private record PeerReply(PeerBackend.QueueReply reply) implements Command {
    }

    /** Private: the guest's snapshot, matched the same way. */
    private record GuestReply(GuestActor.GuestSnapshot reply) implements Command {
    }

    /** Private: the timer of the gather that starts at {@code firstRequestId}. */
    record GatherTimedOut(long firstRequestId) implements Command {
    }

    /** Saves that may wait behind the stops in flight (one per migration; a limit on everything). */
    static final int STASH_CAPACITY = 64;

    /**
     * Realize checks first (they throw {@link dev.livetap.actors.options.OptionException} with QEMU's
     * texts): call before spawning, so that a refused device opens nothing.
     *
     * @return whether the peers wait for incoming state
     */
    public static boolean realizeCheck(PeerBackendFactory peers, RunState runState) {
        return VirtioNetRealizeCheck.checkPeers(peers.peerStates(), runState);
    }

    /** A NIC that passed {@link #realizeCheck}; reports {@link Realized} or {@link RealizeFailed} to {@code realized}. */
    public static Behavior<Command> create(NicConfig config, PeerBackendFactory factory, FdInspector fds,
            ActorRef<RealizeResult> realized) {
        // The migration id goes in the MDC in the states' dispatch (MigrationMdc.with), not through a
        // withMdc interceptor: one interceptor less on every message of the switch-over.
        return Behaviors.supervise(Behaviors.<Command>setup(ctx -> Behaviors.withStash(STASH_CAPACITY, stash -> Behaviors.withTimers(timers -> {
            boolean waiting;
            List<ActorRef<PeerBackend.Command>> peers = new ArrayList<>();
            ActorRef<GuestActor.Command> guest;
            try {
                waiting = realizeCheck(factory, config.runStateAtRealize());
                guest = ctx.spawn(config.tracer().trace(config.deviceId() + "/guest", GuestActor.create(
                        new GuestActor.GuestState(config.mac(), config.guestIp(), GuestCounters.ZERO),
                        factory.vnetHdrLen())), "guest", config.dispatcher());
                List<Behavior<PeerBackend.Command>> behaviors = factory.open(guest);
                for (int q = 0; q < behaviors.size(); q++) {
                    ActorRef<PeerBackend.Command> p = ctx.spawn(config.tracer().trace(config.deviceId() + "/peer-" + q,
                            behaviors.get(q)), "peer-" + q, config.dispatcher());
                    ctx.watch(p); // death pact: an unhandled Terminated stops the NIC
                    peers.add(p);
                }
            } catch (RuntimeException e) {
                realized.tell(new RealizeFailed(config.deviceId(), e.getMessage()));
                return Behaviors.stopped();
            }
            guest.tell(new GuestActor.Attach(peers));
            realized.tell(new Realized(config.deviceId(), ctx.getSelf(), peers.size(), waiting));
            Nic nic = new Nic(ctx, timers, stash, config, fds, peers, guest, waiting,
                    ctx.messageAdapter(PeerBackend.QueueReply.class, PeerReply::new),
                    ctx.messageAdapter(GuestActor.GuestSnapshot.class, GuestReply::new));
            long every = waiting ? VirtioNetFeatures.FULL : VirtioNetFeatures.nic(VirtioNetFeatures.FULL, peers.size());
            State s = new State(every, 1, List.of(), 0, 0, Map.of());
            if (!waiting) {
                s = NicGathers.askPeers(nic, s, "describe", PeerBackend.Description.class,
                        (q, id) -> new PeerBackend.Describe(id, nic.peerReplies().narrow()), false, (st, rs) -> {
                            long all = VirtioNetFeatures.FULL;
                            for (PeerBackend.Description d : rs) {
                                all &= d.hostFeatures();
                            }
                            return st.withHostFeatures(VirtioNetFeatures.nic(all, nic.peers().size()));
                        });
            }
            return next(nic, s);
        })))).onFailure(SUPERVISION);
    }

    // ------------------------------------------------------------------ implementation

    /** The state's behaviour: {@code idle}, or {@code stopping} while stops are in flight; stashed saves run after. */
    static Behavior<Command> next(Nic nic, State s) {
        if (s.stopsInFlight() > 0) {
            return stopping(nic, s);
        }
        return nic.stash().isEmpty() ? idle(nic, s) : nic.stash().unstashAll(idle(nic, s));
    }

    private static Behavior<Command> idle(Nic nic, State s) {
        return Behaviors.receive((ctx, m) -> MigrationMdc.with(MigrationMdc.idOf(m), () -> {
            if (m instanceof SaveSection save) {
                return next(nic, onSave(nic, s, save));
            }
            if (m instanceof Rollback r) {
                return next(nic, rollback(nic, s, r));
            }
            if (m instanceof GetState g) {
                return answerState(g, "idle");
            }
            return common(nic, s, m);
        }));
    }

    /**
     * Stops in flight. The guest snapshot must follow every frame the queues read before they
     * stopped, and a queue saves only once stopped: a save waits in the stash for the stops'
     * answers, not for another round through the coordinator. A rollback cancels the saves it
     * overtakes: they would reach the queues after it and leave them handed over (not reading on cont).
     */
    private static Behavior<Command> stopping(Nic nic, State s) {
        return Behaviors.receive((ctx, m) -> MigrationMdc.with(MigrationMdc.idOf(m), () -> {
            if (m instanceof SaveSection save) {
                nic.stash().stash(save);
                return Behaviors.same();
            }
            if (m instanceof Rollback r) {
                NicGathers.refuseStashedSaves(nic, "rolled back before the save");
                return next(nic, rollback(nic, s, r));
            }
            if (m instanceof GetState g) {
                return answerState(g, "stopping");
            }
            return common(nic, s, m);
        }));
    }

    private static Behavior<Command> answerState(GetState m, String state) {
        m.replyTo().tell(new StateName(state));
        return Behaviors.same();
    }

    /**
     * What both states handle alike. A peer that dies takes the NIC with it (no Terminated handler:
     * death pact). A plain dispatch, not a {@code BehaviorBuilder}: the state's behaviour is built
     * anew for every message, and building a dozen cases each time doubled the NIC's cost per
     * message on the switch-over path (docs/benchmarks.md, "Switch-over hot path").
     */
    private static Behavior<Command> common(Nic nic, State s, Command c) {
        if (c instanceof PeerReply m) {
            return NicGathers.onReply(nic, s, m.reply().requestId(), m.reply());
        }
        if (c instanceof Stop m) {
            return next(nic, NicGathers.askPeers(nic, s.withStops(s.stopsInFlight() + 1), "stop",
                    PeerBackend.Stopped.class, (q, id) -> new PeerBackend.Stop(id, nic.peerReplies().narrow(), m.migrationId()), true,
                    (st, rs) -> {
                        long last = 0;
                        for (PeerBackend.Stopped r : rs) {
                            last = Math.max(last, r.atNanos());
                        }
                        m.replyTo().tell(new Stopped(m.requestId(), nic.id(), last));
                        return st.withStops(st.stopsInFlight() - 1);
                    }));
        }
        if (c instanceof Start m) {
            return next(nic, NicGathers.askPeers(nic, s, "start", PeerBackend.Started.class,
                    (q, id) -> new PeerBackend.Start(id, nic.peerReplies().narrow(), m.migrationId()), false, (st, rs) -> {
                        long last = 0;
                        int reading = 0;
                        for (PeerBackend.Started r : rs) {
                            last = Math.max(last, r.atNanos());
                            reading += r.reading() ? 1 : 0;
                        }
                        m.replyTo().tell(new Started(m.requestId(), nic.id(), last, reading));
                        return st;
                    }));
        }
        if (c instanceof GuestReply m) {
            return NicGathers.onReply(nic, s, m.reply().requestId(), m.reply());
        }
        if (c instanceof LoadSection m) {
            return next(nic, onLoad(nic, s, m));
        }
        if (c instanceof Release m) {
            nic.peers().forEach(p -> p.tell(new PeerBackend.Release(m.migrationId())));
            return Behaviors.same();
        }
        if (c instanceof GatherTimedOut m) {
            return NicGathers.onTimeout(nic, s, m.firstRequestId());
        }
        if (c instanceof DescribeSection m) {
            return next(nic, NicGathers.askPeers(nic, s, "describe", PeerBackend.Description.class,
                    (q, id) -> new PeerBackend.Describe(id, nic.peerReplies().narrow()), false, (st, rs) -> {
                        List<Schema> schemas = new ArrayList<>();
                        rs.forEach(r -> schemas.add(r.schema()));
                        m.replyTo().tell(new SectionSchema(m.requestId(), nic.id(), VirtioNetSchema.sectionName(nic.id()),
                                VirtioNetSchema.schema(schemas)));
                        return st;
                    }));
        }
        if (c instanceof Discard m) {
            return next(nic, NicGathers.askPeers(nic, s, "discard", PeerBackend.Discarded.class,
                    (q, id) -> new PeerBackend.Discard(id, nic.peerReplies().narrow(), m.migrationId()), false, (st, rs) -> {
                        int closed = 0;
                        for (PeerBackend.Discarded r : rs) {
                            closed += r.closedSomething() ? 1 : 0;
                        }
                        m.replyTo().tell(new Discarded(m.requestId(), nic.id(), closed));
                        return st;
                    }));
        }
        if (c instanceof GetInfo m) {
            return next(nic, NicGathers.askPeers(nic, s, "status", PeerBackend.Status.class,
                    (q, id) -> new PeerBackend.GetStatus(id, nic.peerReplies().narrow()), true,
                    (st, statuses) -> NicGathers.askGuest(nic, st, (st2, g) -> {
                        m.replyTo().tell(new NicInfo(m.requestId(), nic.id(), nic.peers().size(), st2.hostFeatures(),
                                nic.peersWait(), statuses, g.get(0).state()));
                        return st2;
                    })));
        }
        if (c instanceof Unplug) {
            // the peers stop with the NIC (children), each closing its fd in PostStop; a Close
            // told to them now would find them stopped (a dead letter each)
            nic.peers().forEach(nic.ctx()::unwatch);
            return Behaviors.stopped();
        }
        return Behaviors.unhandled();
    }

    private static State rollback(Nic nic, State s, Rollback m) {
        return NicGathers.askPeers(nic, s.withRollback(), "rollback", PeerBackend.Stopped.class,
                (q, id) -> new PeerBackend.Rollback(id, nic.peerReplies().narrow(), m.migrationId()), false, (st, rs) -> {
                    m.replyTo().tell(new RolledBack(m.requestId(), nic.id()));
                    return st;
                });
    }

    /** With the save's migration id in the MDC: a stashed save is handled inside another message's handling. */
    private static State onSave(Nic nic, State s, SaveSection m) {
        return MigrationMdc.with(m.migrationId(), () -> save(nic, s, m));
    }

    private static State save(Nic nic, State s, SaveSection m) {
        if (!m.backendTravels()) {
            return NicGathers.askGuest(nic, s, (st, g) -> {
                m.replyTo().tell(new SectionSaved(m.requestId(), nic.id(), section(nic, st.hostFeatures(), g.get(0).state(),
                        null, null)));
                return st;
            });
        }
        // The peers' descriptions are asked at once; the queues save only after the guest's snapshot:
        // the guest answers the snapshot after every frame it sent before, so those replies reach
        // each queue ahead of its Save and are written while the queue still holds its fd (a handed
        // over queue drops what the guest sends; the ping replies of the last frames read before
        // the stop were lost that way). Each queue answers Describe before Save, so the
        // descriptions are in when the saves are.
        long key = s.nextRequestId();
        long rollbacksBefore = s.rollbacks();
        State described = NicGathers.askPeers(nic, s, "describe", PeerBackend.Description.class,
                (q, id) -> new PeerBackend.Describe(id, nic.peerReplies().narrow()), false, (st, ds) -> st.withDescribed(key, ds));
        return NicGathers.askGuest(nic, described, (st, gs) -> {
            GuestActor.GuestState g = gs.get(0).state();
            if (st.rollbacks() != rollbacksBefore) {
                m.replyTo().tell(new SectionSaveFailed(m.requestId(), nic.id(), "rolled back before the save"));
                return st.withDescribed(key, null);
            }
            return NicGathers.askPeers(nic, st, "save", PeerBackend.SaveReply.class,
                    (q, id) -> new PeerBackend.Save(id, nic.peerReplies().narrow(), m.migrationId()), false, (st2, rs) -> {
                        List<PeerBackend.Description> ds = st2.described().get(key);
                        if (ds == null) {
                            throw new IllegalStateException(nic.id() + ": the queues saved before they described themselves");
                        }
                        List<StateStruct> states = new ArrayList<>();
                        for (PeerBackend.SaveReply r : rs) {
                            if (r instanceof PeerBackend.SaveFailed f) {
                                m.replyTo().tell(new SectionSaveFailed(m.requestId(), nic.id(), "queue " + f.queue() + ": "
                                        + f.reason()));
                                return st2.withDescribed(key, null);
                            }
                            states.add(((PeerBackend.Saved) r).state());
                        }
                        List<Schema> schemas = new ArrayList<>();
                        ds.forEach(d -> schemas.add(d.schema()));
                        m.replyTo().tell(new SectionSaved(m.requestId(), nic.id(), section(nic, st2.hostFeatures(), g, schemas,
                                states)));
                        return st2.withDescribed(key, null);
                    });
        });
    }

    private static Section section(Nic nic, long hostFeatures, GuestActor.GuestState g, List<Schema> peerSchemas,
            List<StateStruct> peerStates) {
        Schema schema = VirtioNetSchema.schema(peerSchemas == null ? List.of() : peerSchemas);
        StateStruct s = schema.newStruct()
                .setBytes("mac", nic.config().mac().toBytes())
                .setUint("max_queue_pairs", nic.peers().size())
                .setUint("curr_queue_pairs", nic.peers().size())
                .setUint("host_features", hostFeatures)
                .setStruct("guest", VirtioNetSchema.guestToStruct(g));
        if (peerStates != null) {
            s.setSubsection(VirtioNetSchema.nicSubsection(schema, peerStates));
        }
        return Section.of(VirtioNetSchema.sectionName(nic.id()), 0, s);
    }

    private static State onLoad(Nic n, State s, LoadSection m) {
        Section section = m.section();
        StateStruct st = section.struct();
        String problem = null;
        GuestActor.GuestState guestState = null;
        StateStruct nic = null;
        try {
            long pairs = st.getUint("max_queue_pairs");
            if (pairs != n.peers().size()) {
                problem = "the stream has max_queue_pairs=" + pairs + " but this NIC has " + n.peers().size() + " queue pairs";
            }
            guestState = VirtioNetSchema.guestFromStruct(st.getStruct("guest"));
            nic = st.subsection(VirtioNetSchema.NIC_SUBSECTION);
        } catch (RuntimeException e) {
            problem = "bad virtio-net state: " + e.getMessage();
        }
        if (problem == null) {
            problem = SectionLoadChecks.crossQueueCheck(n.peersWait(), n.peers().size(), n.fds(), nic);
        }
        if (problem != null) {
            section.close(); // every fd that arrived with the section
            n.ctx().getLog().warn("{}: section refused: {}", n.id(), problem);
            m.replyTo().tell(new SectionLoadFailed(m.requestId(), n.id(), problem));
            return s;
        }
        GuestActor.GuestState g = guestState;
        if (nic == null) {
            n.guest().tell(new GuestActor.Restore(g));
            m.replyTo().tell(new SectionLoaded(m.requestId(), n.id(), s.hostFeatures()));
            return s;
        }
        List<StateStruct> peerStates = nic.getArray("peers");
        return NicGathers.askPeers(n, s, "load", PeerBackend.LoadReply.class,
                (q, id) -> new PeerBackend.Load(id, peerStates.get(q), n.peerReplies().narrow(), m.migrationId()), false, (s1, rs) -> {
                    StringBuilder failures = new StringBuilder();
                    long every = VirtioNetFeatures.FULL;
                    for (PeerBackend.LoadReply r : rs) {
                        if (r instanceof PeerBackend.LoadFailed f) {
                            failures.append(failures.length() == 0 ? "" : "; ").append("queue ").append(f.queue())
                                    .append(": ").append(f.reason());
                        } else {
                            every &= ((PeerBackend.Loaded) r).hostFeatures();
                        }
                    }
                    if (failures.length() > 0) {
                        // the queues that did load hold fds from the stream: close them too
                        return NicGathers.askPeers(n, s1, "discard", PeerBackend.Discarded.class,
                                (q, id) -> new PeerBackend.Discard(id, n.peerReplies().narrow(), m.migrationId()), false, (s2, ds) -> {
                                    m.replyTo().tell(new SectionLoadFailed(m.requestId(), n.id(), failures.toString()));
                                    return s2;
                                });
                    }
                    long features = VirtioNetFeatures.nic(every, n.peers().size());
                    n.guest().tell(new GuestActor.Restore(g));
                    RoutineLog.info(n.ctx().getLog(), "{}: section loaded, {} queues, host features 0x{}", n.id(), n.peers().size(),
                            Long.toHexString(features));
                    m.replyTo().tell(new SectionLoaded(m.requestId(), n.id(), features));
                    return s1.withHostFeatures(features);
                });
    }
}
