package dev.livetap.actors.nic;

import dev.livetap.actors.Replies;
import dev.livetap.actors.Tracer;
import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.guest.GuestCounters;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.MacAddress;
import dev.livetap.actors.options.PeerState;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.VirtioNetRealizeCheck;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.StateStruct;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.OwnedFd;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
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
 */
public final class VirtioNetActor {

    /** What the NIC was created with. */
    public record NicConfig(String deviceId, MacAddress mac, Ipv4Address guestIp, RunState runStateAtRealize,
            Duration timeout, DispatcherSelector dispatcher, Tracer tracer) {
        public NicConfig(String deviceId, MacAddress mac, Ipv4Address guestIp, RunState runStateAtRealize,
                Duration timeout, DispatcherSelector dispatcher) {
            this(deviceId, mac, guestIp, runStateAtRealize, timeout, dispatcher, Tracer.NONE);
        }
    }

    public sealed interface Command permits Request, Release, Unplug, PeerAnswer, GuestAnswer, Answer {
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
    public record DescribeSection(long requestId, ActorRef<SectionSchema> replyTo) implements Request {
        public DescribeSection(ActorRef<SectionSchema> replyTo) {
            this(0, replyTo);
        }
    }

    public record SectionSchema(long requestId, String deviceId, String sectionName, Schema schema) implements DeviceReply {
    }

    public record Stop(long requestId, ActorRef<Stopped> replyTo) implements Request {
        public Stop(ActorRef<Stopped> replyTo) {
            this(0, replyTo);
        }
    }

    /** @param lastStopNanos when the last queue stopped reading (CLOCK_MONOTONIC) */
    public record Stopped(long requestId, String deviceId, long lastStopNanos) implements DeviceReply {
    }

    public record Start(long requestId, ActorRef<Started> replyTo) implements Request {
        public Start(ActorRef<Started> replyTo) {
            this(0, replyTo);
        }
    }

    /** @param lastReadingNanos when the last queue started reading again; 0 if none could */
    public record Started(long requestId, String deviceId, long lastReadingNanos, int queuesReading) implements DeviceReply {
    }

    /** Saves the section; the VM must be stopped. With {@code backendTravels} the peers' states go in {@code virtio-net-nic}. */
    public record SaveSection(long requestId, boolean backendTravels, ActorRef<SaveResult> replyTo) implements Request {
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
    public record LoadSection(long requestId, Section section, ActorRef<LoadResult> replyTo) implements Request {
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

    /** Source: the target answered {@code loaded}; every peer gives its resource up. */
    public record Release() implements Command {
    }

    /** Source: the migration failed; every peer takes its state back, stopped. */
    public record Rollback(long requestId, ActorRef<RolledBack> replyTo) implements Request {
        public Rollback(ActorRef<RolledBack> replyTo) {
            this(0, replyTo);
        }
    }

    public record RolledBack(long requestId, String deviceId) implements DeviceReply {
    }

    /** Target: the migration failed; every peer closes what it received. */
    public record Discard(long requestId, ActorRef<Discarded> replyTo) implements Request {
        public Discard(ActorRef<Discarded> replyTo) {
            this(0, replyTo);
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

    /** Realize outcome, sent once to whoever created the NIC. */
    public sealed interface RealizeResult permits Realized, RealizeFailed {
        String deviceId();
    }

    public record Realized(String deviceId, ActorRef<Command> nic, int queuePairs, boolean peersWaitIncoming)
            implements RealizeResult {
    }

    public record RealizeFailed(String deviceId, String error) implements RealizeResult {
    }

    /** Private: one peer's (or the guest's) reply to a gathered request. */
    private record PeerAnswer(long op, int queue, Object reply, Throwable failure) implements Command {
    }

    private record GuestAnswer(long op, GuestActor.GuestState state, Throwable failure) implements Command {
    }

    /** Private: a reply (or a timeout) of a peer or of the guest, matched by {@link Replies}. */
    private record Answer(Object wrapped) implements Command {
    }

    /** The key of the guest's replies (peers' replies are keyed by their queue number). */
    private static final String GUEST_KEY = "guest";

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
        return Behaviors.setup(ctx -> {
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
            return new VirtioNetActor(ctx, config, fds, peers, guest, waiting).behavior();
        });
    }

    // ------------------------------------------------------------------ implementation

    private final ActorContext<Command> ctx;
    private final NicConfig config;
    private final FdInspector fds;
    private final List<ActorRef<PeerBackend.Command>> peers;
    private final ActorRef<GuestActor.Command> guest;
    private final boolean peersWait;
    private long hostFeatures;
    private long nextOp = 1;
    private final TreeMap<Long, Op> ops = new TreeMap<>();

    /** A request sent to every peer (or to the guest), waiting for all answers. */
    private static final class Op {
        final String what;
        final Object[] replies;
        int missing;
        final Consumer<List<Object>> onAll;
        final Consumer<String> onFailure;

        Op(String what, int n, Consumer<List<Object>> onAll, Consumer<String> onFailure) {
            this.what = what;
            this.replies = new Object[n];
            this.missing = n;
            this.onAll = onAll;
            this.onFailure = onFailure;
        }
    }

    private VirtioNetActor(ActorContext<Command> ctx, NicConfig config, FdInspector fds,
            List<ActorRef<PeerBackend.Command>> peers, ActorRef<GuestActor.Command> guest, boolean peersWait) {
        this.ctx = ctx;
        this.config = config;
        this.fds = fds;
        this.peers = List.copyOf(peers);
        this.guest = guest;
        this.peersWait = peersWait;
        this.hostFeatures = peersWait ? VirtioNetFeatures.FULL : VirtioNetFeatures.nic(VirtioNetFeatures.FULL, peers.size());
        this.replies = new Replies<>(ctx, Answer::new,
                m -> m instanceof PeerBackend.QueueReply r ? (Object) r.queue() : GUEST_KEY,
                PeerBackend.QueueReply.class, GuestActor.GuestState.class);
    }

    private final Replies<Command> replies;

    private String id() {
        return config.deviceId();
    }

    private Behavior<Command> behavior() {
        if (!peersWait) {
            askPeers(PeerBackend.Description.class, PeerBackend.Describe::new, "describe", rs -> {
                long every = VirtioNetFeatures.FULL;
                for (Object r : rs) {
                    every &= ((PeerBackend.Description) r).hostFeatures();
                }
                hostFeatures = VirtioNetFeatures.nic(every, peers.size());
            }, reason -> ctx.getLog().warn("{}: {}", id(), reason));
        }
        return Behaviors.receive(Command.class)
                .onMessage(PeerAnswer.class, this::onPeerAnswer)
                .onMessage(GuestAnswer.class, this::onGuestAnswer)
                .onMessage(Answer.class, m -> {
                    Command answer = replies.deliver(m.wrapped());
                    if (answer instanceof PeerAnswer p) {
                        return onPeerAnswer(p);
                    }
                    if (answer instanceof GuestAnswer g) {
                        return onGuestAnswer(g);
                    }
                    return Behaviors.same();
                })
                .onMessage(DescribeSection.class, m -> {
                    askPeers(PeerBackend.Description.class, PeerBackend.Describe::new, "describe", rs -> {
                        List<Schema> schemas = new ArrayList<>();
                        rs.forEach(r -> schemas.add(((PeerBackend.Description) r).schema()));
                        m.replyTo().tell(new SectionSchema(m.requestId(), id(), VirtioNetSchema.sectionName(id()),
                                VirtioNetSchema.schema(schemas)));
                    }, reason -> {
                        throw new IllegalStateException(id() + ": " + reason);
                    });
                    return Behaviors.same();
                })
                .onMessage(Stop.class, m -> {
                    stopsInFlight++;
                    askPeers(PeerBackend.Stopped.class, PeerBackend.Stop::new, "stop", rs -> {
                        long last = 0;
                        for (Object r : rs) {
                            last = Math.max(last, ((PeerBackend.Stopped) r).atNanos());
                        }
                        m.replyTo().tell(new Stopped(m.requestId(), id(), last));
                        if (--stopsInFlight == 0) {
                            List<SaveSection> saves = new ArrayList<>(savesAfterStop);
                            savesAfterStop.clear();
                            saves.forEach(this::onSave);
                        }
                    }, this::peerFailed);
                    return Behaviors.same();
                })
                .onMessage(Start.class, m -> {
                    askPeers(PeerBackend.Started.class, PeerBackend.Start::new, "start", rs -> {
                        long last = 0;
                        int reading = 0;
                        for (Object r : rs) {
                            PeerBackend.Started s = (PeerBackend.Started) r;
                            last = Math.max(last, s.atNanos());
                            reading += s.reading() ? 1 : 0;
                        }
                        m.replyTo().tell(new Started(m.requestId(), id(), last, reading));
                    }, this::peerFailed);
                    return Behaviors.same();
                })
                .onMessage(SaveSection.class, this::onSave)
                .onMessage(LoadSection.class, this::onLoad)
                .onMessage(Release.class, m -> {
                    peers.forEach(p -> p.tell(new PeerBackend.Release()));
                    return Behaviors.same();
                })
                .onMessage(Rollback.class, m -> {
                    // A save held for a stop still in flight would reach the queues after this rollback and
                    // leave them handed over (not reading on cont): the rollback cancels it.
                    savesAfterStop.forEach(s -> s.replyTo().tell(new SectionSaveFailed(s.requestId(), id(), "rolled back before the save")));
                    savesAfterStop.clear();
                    rollbacks++; // and so does it a save waiting for the guest's snapshot (onSave)
                    askPeers(PeerBackend.Stopped.class, PeerBackend.Rollback::new, "rollback",
                            rs -> m.replyTo().tell(new RolledBack(m.requestId(), id())), this::peerFailed);
                    return Behaviors.same();
                })
                .onMessage(Discard.class, m -> {
                    askPeers(PeerBackend.Discarded.class, PeerBackend.Discard::new, "discard", rs -> {
                        int closed = 0;
                        for (Object r : rs) {
                            closed += ((PeerBackend.Discarded) r).closedSomething() ? 1 : 0;
                        }
                        m.replyTo().tell(new Discarded(m.requestId(), id(), closed));
                    }, this::peerFailed);
                    return Behaviors.same();
                })
                .onMessage(GetInfo.class, m -> {
                    askPeers(PeerBackend.Status.class, PeerBackend.GetStatus::new, "status", rs -> {
                        List<PeerBackend.Status> statuses = new ArrayList<>();
                        rs.forEach(r -> statuses.add((PeerBackend.Status) r));
                        askGuest(g -> m.replyTo().tell(new NicInfo(m.requestId(), id(), peers.size(), hostFeatures, peersWait,
                                statuses, g)));
                    }, this::peerFailed);
                    return Behaviors.same();
                })
                .onMessage(Unplug.class, m -> {
                    peers.forEach(ctx::unwatch);
                    peers.forEach(p -> p.tell(new PeerBackend.Close()));
                    return Behaviors.stopped();
                })
                .build();
    }

    /** A peer failed to answer in time: the NIC cannot know its queue's state any more; fail it (its owner rolls back). */
    private void peerFailed(String reason) {
        throw new IllegalStateException(id() + ": " + reason);
    }

    /** Stops asked of the peers and not yet answered by all of them. */
    private int stopsInFlight;
    /** Rollbacks so far: a save that waited across one is refused instead of handing the queues over. */
    private long rollbacks;
    /** Saves that came right behind a stop (the coordinator does not wait): run once every queue stopped. */
    private final List<SaveSection> savesAfterStop = new ArrayList<>();

    private Behavior<Command> onSave(SaveSection m) {
        if (stopsInFlight > 0) {
            // The guest snapshot must follow every frame the queues read before they stopped, and a
            // queue saves only once stopped: wait for the stop's answers, not for another round
            // through the coordinator.
            savesAfterStop.add(m);
            return Behaviors.same();
        }
        if (!m.backendTravels()) {
            askGuest(g -> m.replyTo().tell(new SectionSaved(m.requestId(), id(), section(g, null, null))));
            return Behaviors.same();
        }
        // The peers' descriptions are asked at once; the queues save only after the guest's snapshot:
        // the guest answers the snapshot after every frame it sent before, so those replies reach
        // each queue ahead of its Save and are written while the queue still holds its fd (a handed
        // over queue drops what the guest sends; the ping replies of the last frames read before
        // the stop were lost that way).
        Object[] parts = new Object[3];
        int[] missing = {3};
        Runnable assemble = () -> {
            if (--missing[0] > 0) {
                return;
            }
            @SuppressWarnings("unchecked")
            List<Object> ds = (List<Object>) parts[1];
            @SuppressWarnings("unchecked")
            List<Object> rs = (List<Object>) parts[2];
            List<StateStruct> states = new ArrayList<>();
            for (Object r : rs) {
                if (r instanceof PeerBackend.SaveFailed f) {
                    m.replyTo().tell(new SectionSaveFailed(m.requestId(), id(), "queue " + f.queue() + ": " + f.reason()));
                    return;
                }
                states.add(((PeerBackend.Saved) r).state());
            }
            List<Schema> schemas = new ArrayList<>();
            ds.forEach(d -> schemas.add(((PeerBackend.Description) d).schema()));
            m.replyTo().tell(new SectionSaved(m.requestId(), id(), section((GuestActor.GuestState) parts[0], schemas, states)));
        };
        long rollbacksBefore = rollbacks;
        askPeers(PeerBackend.Description.class, PeerBackend.Describe::new, "describe", ds -> {
            parts[1] = ds;
            assemble.run();
        }, this::peerFailed);
        askGuest(g -> {
            parts[0] = g;
            if (rollbacks != rollbacksBefore) {
                m.replyTo().tell(new SectionSaveFailed(m.requestId(), id(), "rolled back before the save"));
                return;
            }
            askPeers(PeerBackend.SaveReply.class, PeerBackend.Save::new, "save", rs -> {
                parts[2] = rs;
                assemble.run();
            }, this::peerFailed);
            assemble.run();
        });
        return Behaviors.same();
    }

    private Section section(GuestActor.GuestState g, List<Schema> peerSchemas, List<StateStruct> peerStates) {
        Schema schema = VirtioNetSchema.schema(peerSchemas == null ? List.of() : peerSchemas);
        StateStruct s = schema.newStruct()
                .setBytes("mac", config.mac().toBytes())
                .setUint("max_queue_pairs", peers.size())
                .setUint("curr_queue_pairs", peers.size())
                .setUint("host_features", hostFeatures)
                .setStruct("guest", VirtioNetSchema.guestToStruct(g));
        if (peerStates != null) {
            s.setSubsection(VirtioNetSchema.nicSubsection(schema, peerStates));
        }
        return Section.of(VirtioNetSchema.sectionName(id()), 0, s);
    }

    private Behavior<Command> onLoad(LoadSection m) {
        Section section = m.section();
        StateStruct s = section.struct();
        String problem = null;
        GuestActor.GuestState guestState = null;
        StateStruct nic = null;
        try {
            long pairs = s.getUint("max_queue_pairs");
            if (pairs != peers.size()) {
                problem = "the stream has max_queue_pairs=" + pairs + " but this NIC has " + peers.size() + " queue pairs";
            }
            guestState = VirtioNetSchema.guestFromStruct(s.getStruct("guest"));
            nic = s.subsection(VirtioNetSchema.NIC_SUBSECTION);
        } catch (RuntimeException e) {
            problem = "bad virtio-net state: " + e.getMessage();
        }
        if (problem == null) {
            problem = crossQueueCheck(nic);
        }
        if (problem != null) {
            refuse(section, m.requestId(), m.replyTo(), problem);
            return Behaviors.same();
        }
        GuestActor.GuestState g = guestState;
        if (nic == null) {
            guest.tell(new GuestActor.Restore(g));
            m.replyTo().tell(new SectionLoaded(m.requestId(), id(), hostFeatures));
            return Behaviors.same();
        }
        List<StateStruct> peerStates = nic.getArray("peers");
        long op = nextOp++;
        ops.put(op, new Op("load", peers.size(), rs -> {
            StringBuilder failures = new StringBuilder();
            long every = VirtioNetFeatures.FULL;
            for (Object r : rs) {
                if (r instanceof PeerBackend.LoadFailed f) {
                    failures.append(failures.length() == 0 ? "" : "; ").append("queue ").append(f.queue()).append(": ")
                            .append(f.reason());
                } else {
                    every &= ((PeerBackend.Loaded) r).hostFeatures();
                }
            }
            if (failures.length() > 0) {
                // the queues that did load hold fds from the stream: close them too
                askPeers(PeerBackend.Discarded.class, PeerBackend.Discard::new, "discard",
                        ds -> m.replyTo().tell(new SectionLoadFailed(m.requestId(), id(), failures.toString())), this::peerFailed);
                return;
            }
            hostFeatures = VirtioNetFeatures.nic(every, peers.size());
            guest.tell(new GuestActor.Restore(g));
            ctx.getLog().info("{}: section loaded, {} queues, host features 0x{}", id(), peers.size(),
                    Long.toHexString(hostFeatures));
            m.replyTo().tell(new SectionLoaded(m.requestId(), id(), hostFeatures));
        }, this::peerFailed));
        for (int q = 0; q < peers.size(); q++) {
            int queue = q;
            replies.ask(PeerBackend.LoadReply.class, queue, peers.get(q), config.timeout(),
                    r -> new PeerBackend.Load(peerStates.get(queue), r),
                    (r, ex) -> new PeerAnswer(op, queue, r, ex));
        }
        return Behaviors.same();
    }

    /** The checks on all queues together, before any queue takes an fd; null when they pass. */
    private String crossQueueCheck(StateStruct nic) {
        if (nic != null && !peersWait) {
            return "the stream carries the backend (" + VirtioNetSchema.NIC_SUBSECTION
                    + ") but this NIC's peers do not wait for incoming state (incoming-fds=off)";
        }
        if (nic == null && peersWait) {
            return "the stream carries no backend state (backend-transfer or 'local' off on the source)"
                    + " but this NIC's peers wait for incoming fds";
        }
        if (nic == null) {
            return null;
        }
        List<StateStruct> states = nic.getArray("peers");
        if (states.size() != peers.size()) {
            return "the stream carries " + states.size() + " peer states but this NIC has " + peers.size() + " queues";
        }
        List<OwnedFd> received = nic.fds();
        if (received.size() != peers.size()) {
            return "expected " + peers.size() + " fds (one per queue) but the stream carries " + received.size();
        }
        int[] twice = sameOpenFileTwice(fds, received);
        if (twice != null) {
            return "the fds of queues " + twice[0] + " and " + twice[1] + " are the same open file (kcmp): one TAP queue"
                    + " cannot serve two queues";
        }
        return null;
    }

    /**
     * Two positions of {@code list} whose fds are the same open file (lower position first), or null:
     * the positions sorted by kcmp's order of open files, then neighbours compared (n log n kcmp
     * calls, not n²: at 256 queues the pairwise check cost tens of ms of downtime).
     */
    static int[] sameOpenFileTwice(dev.livetap.nativeio.FdInspector fds, List<OwnedFd> list) {
        Integer[] order = new Integer[list.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        // A comparison sort compares every two neighbours of its result directly (nothing else can
        // order them), so two positions of one open file meet in the comparator: no second pass.
        int[][] found = {null};
        java.util.Arrays.sort(order, (x, y) -> {
            int c = fds.compareOpenFiles(list.get(x), list.get(y));
            if (c != 0) {
                return c;
            }
            int a = Math.min(x, y);
            int b = Math.max(x, y);
            if (found[0] == null || a < found[0][0] || a == found[0][0] && b < found[0][1]) {
                found[0] = new int[] {a, b};
            }
            return Integer.compare(x, y);
        });
        return found[0];
    }

    private void refuse(Section section, long requestId, ActorRef<LoadResult> replyTo, String problem) {
        section.close(); // every fd that arrived with the section
        ctx.getLog().warn("{}: section refused: {}", id(), problem);
        replyTo.tell(new SectionLoadFailed(requestId, id(), problem));
    }

    // ------------------------------------------------------------------ gathering answers

    private <R> void askPeers(Class<R> cls, Function<ActorRef<R>, PeerBackend.Command> request, String what,
            Consumer<List<Object>> onAll, Consumer<String> onFailure) {
        long op = nextOp++;
        ops.put(op, new Op(what, peers.size(), onAll, onFailure));
        for (int q = 0; q < peers.size(); q++) {
            int queue = q;
            replies.ask(cls, queue, peers.get(q), config.timeout(), request::apply, (r, ex) -> new PeerAnswer(op, queue, r, ex));
        }
    }

    private void askGuest(Consumer<GuestActor.GuestState> onState) {
        long op = nextOp++;
        ops.put(op, new Op("guest snapshot", 1, rs -> onState.accept((GuestActor.GuestState) rs.get(0)), this::peerFailed));
        replies.ask(GuestActor.GuestState.class, GUEST_KEY, guest, config.timeout(), GuestActor.Snapshot::new,
                (r, ex) -> new GuestAnswer(op, r, ex));
    }

    private Behavior<Command> onGuestAnswer(GuestAnswer a) {
        return onPeerAnswer(new PeerAnswer(a.op(), 0, a.state(), a.failure()));
    }

    private Behavior<Command> onPeerAnswer(PeerAnswer a) {
        Op op = ops.get(a.op());
        if (op == null) {
            return Behaviors.same(); // an op that already failed
        }
        if (a.failure() != null) {
            ops.remove(a.op());
            op.onFailure.accept(op.what + " of queue " + a.queue() + " failed: " + a.failure().getMessage());
            return Behaviors.same();
        }
        if (op.replies[a.queue()] == null) {
            op.missing--;
        }
        op.replies[a.queue()] = a.reply();
        if (op.missing == 0) {
            ops.remove(a.op());
            op.onAll.accept(Arrays.asList(op.replies));
        }
        return Behaviors.same();
    }
}
