package dev.livetap.fleet.coordinator;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.livetap.fleet.FleetSerializable;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.cluster.FleetRole;
import dev.livetap.fleet.cluster.OperatorAudit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The upgrade coordinator, run as a Cluster Singleton, its state event-sourced into the journal.
 *
 * <p>Each incarnation (first start, restart, fail-over to another node) persists a new
 * {@link EpochBegan} before it handles any command (commands meanwhile are stashed): the epoch is
 * the fencing token every step carries, so a host agent that has seen epoch {@code e} refuses a
 * step of an older incarnation. A VM is in at most one step at a time, across incarnations too,
 * because open steps are journaled; starting and finishing a step are idempotent (a retried
 * request gets the same migration id, a repeated finish the same answer).
 *
 * <p>Its plan driver journals steps by group commit ({@link RecordSteps}): the ends, grants and hosts
 * done that became due during one write go in the next as one {@code persist} of their events, and
 * the grants are answered only after it, so no agent ever performs a step the journal lacks.
 *
 * <p>A journal that fails (the database restarted or unreachable) makes the incarnation fail: it is
 * restarted with a backoff ({@link #JOURNAL_BACKOFF_MIN} to {@link #JOURNAL_BACKOFF_MAX}, commands
 * stashed meanwhile), recovers from the journal once it answers and begins the next epoch, like a
 * fail-over on the same node. Its plan driver is stopped and a new one started after the recovery.
 */
public final class UpgradeCoordinator extends EventSourcedBehavior<UpgradeCoordinator.Command, UpgradeCoordinator.Event,
        UpgradeCoordinator.State> {
    public static final String SINGLETON_NAME = "upgrade-coordinator";
    public static final PersistenceId PERSISTENCE_ID = PersistenceId.ofUniqueId("livetap-upgrade-coordinator");
    /** The first wait before an incarnation that failed (a journal write or recovery) starts again. */
    public static final Duration JOURNAL_BACKOFF_MIN = Duration.ofMillis(200);
    /** The longest wait between attempts while the journal stays unreachable. */
    public static final Duration JOURNAL_BACKOFF_MAX = Duration.ofSeconds(2);

    /** The coordinator's protocol. */
    public sealed interface Command extends FleetSerializable permits SubmitPlan, StartStep, FinishStep, StartSteps, FinishSteps,
            RecordSteps, GetStatus, GetGroupCommits, Passivate, BeginEpoch, HostDone, ControlPlan, HostLost, HostBack, GiveUpHost,
            Inventory {
    }

    /** What an operator does to a running plan. */
    public enum Action {
        /** No new step starts; steps in flight finish. */
        PAUSE,
        RESUME,
        /** No new step starts; the plan ends {@code aborted} once the steps in flight ended. */
        ABORT
    }

    /** {@code fleet pause|resume|abort}: journaled, so it survives a coordinator fail-over; answered with {@link Controlled}. */
    public record ControlPlan(Action action, ActorRef<Reply> replyTo) implements Command {
    }

    /** From the driver: {@code host}'s agent is gone (unreachable, downed, or silent); its open steps are unknown now. */
    public record HostLost(String host) implements Command {
    }

    /** From the driver: {@code host}'s agent registered again; its unknown steps are being reconciled. */
    public record HostBack(String host) implements Command {
    }

    /** From the driver: {@code host}'s agent stayed gone past the plan's host-down limit; counts as one failure. */
    public record GiveUpHost(String host) implements Command {
    }

    /** From the driver: {@code host}'s agent reported {@code vms} VMs (the progress's "left"). */
    public record Inventory(String host, int vms) implements Command {
    }

    /** Accepts a plan when none is running. */
    public record SubmitPlan(Plan plan, ActorRef<Reply> replyTo) implements Command {
    }

    /** Opens the step of one VM (or returns the step already open for it). */
    public record StartStep(String host, String vm, ActorRef<Reply> replyTo) implements Command {
    }

    /** Closes a VM's step with its outcome ({@code completed}, or a failure text). */
    public record FinishStep(String vm, String migrationId, boolean completed, String detail, ActorRef<Reply> replyTo)
            implements Command {
    }

    /** {@link StartStep} for several VMs of one host, journaled in one write; answered with {@link Batch}. */
    public record StartSteps(String host, List<String> vms, ActorRef<Reply> replyTo) implements Command {
        public StartSteps {
            vms = List.copyOf(vms);
        }
    }

    /** {@link FinishStep} for several VMs, journaled in one write; answered with {@link Batch}. */
    public record FinishSteps(List<Finish> steps, ActorRef<Reply> replyTo) implements Command {
        public FinishSteps {
            steps = List.copyOf(steps);
        }
    }

    /**
     * The plan driver's group commit: what became due while its previous write was in flight, journaled
     * in one write (one {@code persist} of all its events, one database transaction), in this order:
     * the {@code ends} (as {@link FinishSteps}), then the {@code starts} (as {@link StartSteps}, each with
     * its host; a start is refused when the ends before it halted the plan), then {@code doneHosts} (as
     * {@link HostDone}: after the ends of their last steps). Answered once it is journaled, with a
     * {@link Batch}: the ends' replies, then the starts' (a grant is never answered before it is journaled).
     */
    public record RecordSteps(List<Finish> ends, List<Start> starts, List<String> doneHosts, ActorRef<Reply> replyTo)
            implements Command {
        public RecordSteps {
            ends = List.copyOf(ends);
            starts = List.copyOf(starts);
            doneHosts = List.copyOf(doneHosts);
        }
    }

    /** One VM's start in a {@link RecordSteps}. */
    public record Start(String host, String vm) implements FleetSerializable {
    }

    /** How many writes the {@link RecordSteps} of this incarnation took; answered with {@link GroupCommits}. */
    public record GetGroupCommits(ActorRef<Reply> replyTo) implements Command {
    }

    /**
     * This incarnation's group commits (not journaled: a measure, not a fact): {@code writes} journal
     * writes of {@link RecordSteps} holding {@code events} events in all, the largest {@code largest}.
     */
    public record GroupCommits(long writes, long events, int largest) implements Reply {
    }

    /** One VM's end in a {@link FinishSteps}. */
    public record Finish(String vm, String migrationId, boolean completed, String detail) implements FleetSerializable {
    }

    public record GetStatus(ActorRef<Reply> replyTo) implements Command {
    }

    /** From the plan's driver: every VM of {@code host} has had its step in this plan. */
    public record HostDone(String host) implements Command {
    }

    /** The singleton's stop message on hand-over. */
    public enum Passivate implements Command {
        INSTANCE
    }

    /** Sent to itself once recovery completed: persist the next epoch. */
    enum BeginEpoch implements Command {
        INSTANCE
    }

    /** Replies; typed by name on the wire because a {@link Batch} holds a list of them. */
    @JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "reply")
    @JsonSubTypes({
        @JsonSubTypes.Type(value = PlanAccepted.class, name = "plan-accepted"),
        @JsonSubTypes.Type(value = StepGranted.class, name = "step-granted"),
        @JsonSubTypes.Type(value = StepFinished.class, name = "step-finished"),
        @JsonSubTypes.Type(value = Rejected.class, name = "rejected"),
        @JsonSubTypes.Type(value = Status.class, name = "status"),
        @JsonSubTypes.Type(value = Batch.class, name = "batch"),
        @JsonSubTypes.Type(value = Controlled.class, name = "controlled"),
        @JsonSubTypes.Type(value = GroupCommits.class, name = "group-commits")})
    public sealed interface Reply extends FleetSerializable permits PlanAccepted, StepGranted, StepFinished, Rejected, Status, Batch,
            Controlled, GroupCommits {
    }

    /** A {@link ControlPlan} took effect (or had already): the plan's state now ({@link Status#state()}). */
    public record Controlled(String state) implements Reply {
    }

    /** The per-VM answers of a {@link StartSteps} or {@link FinishSteps}, in its order. */
    public record Batch(List<Reply> replies) implements Reply {
        public Batch {
            replies = List.copyOf(replies);
        }
    }

    /** {@code plan}: the plan's number, counted over the journal (1 for its first plan): the plan's id. */
    public record PlanAccepted(long epoch, long plan) implements Reply {
    }

    /** A step to perform: the agent records {@code migrationId} and refuses epochs older than {@code epoch}. */
    public record StepGranted(String host, String vm, String migrationId, long epoch) implements Reply {
    }

    public record StepFinished(String vm, String migrationId, boolean completed) implements Reply {
    }

    public record Rejected(String reason) implements Reply {
    }

    /**
     * The journaled state as seen now. {@code complete}: every host of the plan is done or given up,
     * or the plan halted or was aborted, and no step of a host still counted on is open.
     * {@code state}: none, running, paused, aborting, aborted, halting, halted or complete.
     * {@code unreachableHosts}: hosts whose agent is gone (their open steps are unknown);
     * {@code givenUpHosts}: hosts gone past the host-down limit.
     */
    public record Status(long epoch, Plan plan, Map<String, String> open, Map<String, StepRecord> finished, int failures,
            boolean halted, List<String> doneHosts, boolean complete, String state, List<String> unreachableHosts,
            List<String> givenUpHosts, Progress progress) implements Reply {
        public Status {
            doneHosts = List.copyOf(doneHosts);
            unreachableHosts = List.copyOf(unreachableHosts);
            givenUpHosts = List.copyOf(givenUpHosts);
        }
    }

    /**
     * One host's (or the plan's) steps. {@code inFlight}: open steps on a reachable host; {@code unknown}: open
     * steps of an unreachable or given-up host; {@code left}: VMs with no step yet, -1 while the host's agent
     * has not been asked. {@code state}: waiting, upgrading, unreachable, given-up or done.
     */
    public record HostProgress(int done, int failed, int inFlight, int unknown, int left, String state, int skipped)
            implements FleetSerializable {
        /** Without skipped steps. */
        public HostProgress(int done, int failed, int inFlight, int unknown, int left, String state) {
            this(done, failed, inFlight, unknown, left, state, 0);
        }
    }

    /**
     * Progress of the plan: per host, the total ({@code leftEstimated}: hosts not asked yet counted at the mean
     * VM count of those asked), the step rate observed by this incarnation (closes over its last
     * {@value StepRate#WINDOW} steps; null before two) and the ETA in seconds ((left + in flight) / rate;
     * null while paused or ended, or without a rate).
     */
    public record Progress(Map<String, HostProgress> hosts, HostProgress total, boolean leftEstimated, Double stepsPerS,
            Double etaS) implements FleetSerializable {
        public Progress {
            hosts = Collections.unmodifiableMap(new TreeMap<>(hosts));
        }
    }

    /** A finished step. */
    public record StepRecord(String host, String migrationId, boolean completed, String detail) implements FleetSerializable {
        /** A step that found its VM on the target build already (closed completed, detail {@code SKIPPED already on V}). */
        public boolean skipped() {
            return completed && detail != null && detail.startsWith(HostAgent.StepDone.SKIPPED_PREFIX);
        }
    }

    /** Journaled events. */
    public sealed interface Event extends FleetSerializable permits EpochBegan, PlanSubmitted, StepStarted, StepClosed,
            HostFinished, PlanControlled, HostUnreachable, HostReturned, HostGivenUp, HostInventoried {
    }

    public record PlanControlled(Action action) implements Event {
    }

    public record HostUnreachable(String host) implements Event {
    }

    public record HostReturned(String host) implements Event {
    }

    public record HostGivenUp(String host) implements Event {
    }

    public record HostInventoried(String host, int vms) implements Event {
    }

    public record EpochBegan(long epoch) implements Event {
    }

    public record PlanSubmitted(Plan plan) implements Event {
    }

    public record StepStarted(String host, String vm, String migrationId) implements Event {
    }

    public record StepClosed(String vm, String migrationId, boolean completed, String detail) implements Event {
    }

    public record HostFinished(String host) implements Event {
    }

    /**
     * The journaled state, changed in place by the event handler: one event costs O(log n) (a map
     * entry), not a copy of the maps (copying them made a plan of n steps O(n²), in its recovery too).
     * Pekko allows a mutable state when it never leaves the actor: the command handler and the
     * effects' callbacks run on the actor's thread, nothing here is snapshotted, and whatever leaves
     * (a {@link Status}, the driver's {@link PlanDriver.Drive}) is a copy. The empty state is shared
     * (Pekko may hand the same empty state to every recovery, also after a journal failure): it is
     * never changed; the first event makes the incarnation's own copy ({@link #writable()}), so a
     * recovery always replays onto a fresh state through the same handler.
     */
    public static final class State {
        private final boolean shared;
        private long epoch;
        private Plan plan;
        /** VM → migration id of its open step; {@code hostOf} the open step's host. */
        private final TreeMap<String, String> open;
        private final Map<String, String> hostOf;
        private final TreeMap<String, StepRecord> finished;
        /** The sequence number of the next migration id. */
        private long nextStep;
        /** Plans submitted so far (journal-wide): the last one's number. */
        private long plans;
        private int failures;
        private final List<String> doneHosts;
        /** Hosts whose agent is gone and not given up; {@code givenUp} hosts given up in this plan. */
        private final List<String> unreachable;
        private final List<String> givenUp;
        private boolean paused;
        private boolean aborted;
        /** Host → the VM count its agent reported. */
        private final TreeMap<String, Integer> inventory;

        private State(boolean shared, State from) {
            this.shared = shared;
            this.epoch = from == null ? 0 : from.epoch;
            this.plan = from == null ? null : from.plan;
            this.open = from == null ? new TreeMap<>() : new TreeMap<>(from.open);
            this.hostOf = from == null ? new HashMap<>() : new HashMap<>(from.hostOf);
            this.finished = from == null ? new TreeMap<>() : new TreeMap<>(from.finished);
            this.nextStep = from == null ? 1 : from.nextStep;
            this.plans = from == null ? 0 : from.plans;
            this.failures = from == null ? 0 : from.failures;
            this.doneHosts = from == null ? new ArrayList<>() : new ArrayList<>(from.doneHosts);
            this.unreachable = from == null ? new ArrayList<>() : new ArrayList<>(from.unreachable);
            this.givenUp = from == null ? new ArrayList<>() : new ArrayList<>(from.givenUp);
            this.paused = from != null && from.paused;
            this.aborted = from != null && from.aborted;
            this.inventory = from == null ? new TreeMap<>() : new TreeMap<>(from.inventory);
        }

        /** The shared empty state (never changed). */
        static State empty() {
            return new State(true, null);
        }

        /** This state when it is an incarnation's own; a copy of it when it is the shared empty state. */
        State writable() {
            return shared ? new State(false, this) : this;
        }

        /** Applies one journaled event in place (the only place the state changes). */
        State apply(Event event) {
            if (shared) {
                throw new IllegalStateException("the shared empty state is never changed: apply to writable()");
            }
            if (event instanceof EpochBegan e) {
                epoch = e.epoch();
            } else if (event instanceof PlanSubmitted e) {
                // open steps stay (a given-up host's unknown steps are still open); the rest is the new plan's
                plan = e.plan();
                plans++;
                finished.clear();
                failures = 0;
                doneHosts.clear();
                unreachable.clear();
                givenUp.clear();
                paused = false;
                aborted = false;
                inventory.clear();
            } else if (event instanceof StepStarted e) {
                open.put(e.vm(), e.migrationId());
                hostOf.put(e.vm(), e.host());
                nextStep++;
            } else if (event instanceof StepClosed e) {
                String host = hostOf.remove(e.vm());
                open.remove(e.vm());
                finished.put(e.vm(), new StepRecord(host, e.migrationId(), e.completed(), e.detail()));
                failures += e.completed() ? 0 : 1;
            } else if (event instanceof HostFinished e) {
                doneHosts.add(e.host());
                unreachable.remove(e.host());
            } else if (event instanceof HostUnreachable e) {
                unreachable.add(e.host());
            } else if (event instanceof HostReturned e) {
                unreachable.remove(e.host());
                givenUp.remove(e.host());
            } else if (event instanceof HostGivenUp e) {
                // a given-up host counts as one failure, also if it comes back later (the count is what halts a plan)
                unreachable.remove(e.host());
                givenUp.add(e.host());
                failures++;
            } else if (event instanceof PlanControlled e) {
                switch (e.action()) {
                    case PAUSE -> paused = true;
                    case RESUME -> paused = false;
                    case ABORT -> {
                        paused = false;
                        aborted = true;
                    }
                }
            } else if (event instanceof HostInventoried e) {
                inventory.put(e.host(), e.vms());
            }
            return this;
        }

        public long epoch() {
            return epoch;
        }

        public Plan plan() {
            return plan;
        }

        /** A read-only view (copied by whatever sends it on). */
        public Map<String, String> open() {
            return Collections.unmodifiableMap(open);
        }

        public Map<String, String> hostOf() {
            return Collections.unmodifiableMap(hostOf);
        }

        public Map<String, StepRecord> finished() {
            return Collections.unmodifiableMap(finished);
        }

        public long nextStep() {
            return nextStep;
        }

        public int failures() {
            return failures;
        }

        public List<String> doneHosts() {
            return Collections.unmodifiableList(doneHosts);
        }

        public List<String> unreachable() {
            return Collections.unmodifiableList(unreachable);
        }

        public List<String> givenUp() {
            return Collections.unmodifiableList(givenUp);
        }

        public boolean paused() {
            return paused;
        }

        public boolean aborted() {
            return aborted;
        }

        public Map<String, Integer> inventory() {
            return Collections.unmodifiableMap(inventory);
        }

        /** Open steps the plan still waits for: of its hosts, not given up (a given-up host's steps stay open, unknown). */
        Map<String, String> openCounted() {
            Map<String, String> counted = new TreeMap<>();
            open.forEach((vm, id) -> {
                String host = hostOf.get(vm);
                if (plan != null && plan.hosts().contains(host) && !givenUp.contains(host)) {
                    counted.put(vm, id);
                }
            });
            return counted;
        }

        boolean complete() {
            if (plan == null || !openCounted().isEmpty()) {
                return false;
            }
            return halted() || aborted || plan.hosts().stream().allMatch(h -> doneHosts.contains(h) || givenUp.contains(h));
        }

        boolean halted() {
            return plan != null && failures > plan.maxFailures();
        }

        /** Why no new step may start now; null when one may. */
        String stopped() {
            return stopped(0);
        }

        /** {@link #stopped()} with {@code moreFailures} failed ends counted (ends journaled before it in the same write). */
        String stopped(int moreFailures) {
            boolean halts = plan != null && failures + moreFailures > plan.maxFailures();
            return halts ? "the plan halted after " + (failures + moreFailures) + " failure(s)" : aborted ? "the plan was aborted"
                    : paused ? "the plan is paused" : null;
        }

        String name() {
            if (plan == null) {
                return "none";
            }
            if (complete()) {
                return aborted ? "aborted" : halted() ? "halted" : "complete";
            }
            return aborted ? "aborting" : halted() ? "halting" : paused ? "paused" : "running";
        }

        /** A copy: the reply leaves the actor (and may be serialized later on another thread). */
        Status status(Double stepsPerS) {
            return new Status(epoch, plan, Collections.unmodifiableMap(new TreeMap<>(open)),
                    Collections.unmodifiableMap(new TreeMap<>(finished)), failures, halted(), doneHosts, complete(), name(),
                    unreachable, givenUp, plan == null ? null : progress(stepsPerS));
        }

        /** One pass over the finished and the open steps (not one per host). */
        Progress progress(Double stepsPerS) {
            Map<String, int[]> counts = new HashMap<>(); // host → done (moved), failed, open, skipped
            for (StepRecord r : finished.values()) {
                counts.computeIfAbsent(String.valueOf(r.host()), h -> new int[4])[r.skipped() ? 3 : r.completed() ? 0 : 1]++;
            }
            for (String vm : open.keySet()) {
                counts.computeIfAbsent(String.valueOf(hostOf.get(vm)), h -> new int[4])[2]++;
            }
            Map<String, HostProgress> hosts = new TreeMap<>();
            int done = 0;
            int failed = 0;
            int inFlight = 0;
            int unknown = 0;
            int left = 0;
            int skipped = 0;
            int asked = 0;
            int askedVms = 0;
            for (String h : plan.hosts()) {
                int[] c = counts.getOrDefault(h, new int[4]);
                int hd = c[0];
                int hf = c[1];
                int hOpen = c[2];
                int hs0 = c[3];
                boolean gone = unreachable.contains(h) || givenUp.contains(h);
                Integer vms = inventory.get(h);
                int hLeft = vms == null ? -1 : Math.max(0, vms - hd - hf - hOpen - hs0);
                String hs = doneHosts.contains(h) ? "done" : givenUp.contains(h) ? "given-up" : unreachable.contains(h) ? "unreachable"
                        : vms != null || hOpen > 0 ? "upgrading" : "waiting";
                hosts.put(h, new HostProgress(hd, hf, gone ? 0 : hOpen, gone ? hOpen : 0, hLeft, hs, hs0));
                done += hd;
                skipped += hs0;
                failed += hf;
                inFlight += gone ? 0 : hOpen;
                unknown += gone ? hOpen : 0;
                if (vms != null) {
                    asked++;
                    askedVms += vms;
                    left += hLeft;
                }
            }
            int notAsked = plan.hosts().size() - asked;
            boolean estimated = notAsked > 0 && asked > 0;
            if (estimated) {
                left += Math.round((float) askedVms / asked) * notAsked;
            }
            int totalLeft = asked == 0 && notAsked > 0 ? -1 : left;
            Double eta = stepsPerS != null && stepsPerS > 0 && totalLeft >= 0 && "running".equals(name())
                    ? (totalLeft + inFlight) / stepsPerS : null;
            return new Progress(hosts, new HostProgress(done, failed, inFlight, unknown, totalLeft, name(), skipped), estimated, stepsPerS, eta);
        }
    }

    /** Times of the last {@link #WINDOW} step closes this incarnation saw (not journaled: a rate, not a fact). */
    static final class StepRate {
        static final int WINDOW = 64;
        private final long[] closedAt = new long[WINDOW];
        private int count;

        void closed(int steps) {
            long now = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                closedAt[count++ % WINDOW] = now;
            }
        }

        /** Steps per second over the window; null before two closes or when they all came at once. */
        Double perSecond() {
            int n = Math.min(count, WINDOW);
            if (n < 2) {
                return null;
            }
            long last = closedAt[(count - 1) % WINDOW];
            long first = closedAt[(count - n) % WINDOW];
            return last > first ? (n - 1) * 1e9 / (last - first) : null;
        }
    }

    private final ActorContext<Command> context;
    private final PlanDriver.Settings settings;
    /** This incarnation's driver, started when its recovery completed (a journal failure stops it with the incarnation). */
    private ActorRef<PlanDriver.Command> driver;
    private int recoveries;
    /** The epoch this incarnation persisted; 0 until then (commands are stashed meanwhile). */
    private long incarnationEpoch;
    private final StepRate rate = new StepRate();
    /** {@link GroupCommits} of this incarnation. */
    private long groupWrites;
    private long groupEvents;
    private int largestGroup;

    private UpgradeCoordinator(ActorContext<Command> context, PlanDriver.Settings settings) {
        // a failed write or recovery restarts the behaviour with a backoff, its children (the driver) stopped
        super(PERSISTENCE_ID, SupervisorStrategy.restartWithBackoff(JOURNAL_BACKOFF_MIN, JOURNAL_BACKOFF_MAX, 0.2));
        this.context = context;
        this.settings = settings;
    }

    /** After each recovery (the first, or after a journal failure): a fresh driver, and no command before the new epoch. */
    private void beginIncarnation() {
        incarnationEpoch = 0;
        if (driver != null) {
            context.stop(driver); // already stopped by the restart; stopping a stopped child changes nothing
        }
        recoveries++;
        driver = context.spawn(PlanDriver.create(context.getSelf(), settings),
                recoveries == 1 ? "plan-driver" : "plan-driver-" + recoveries);
        context.getSelf().tell(BeginEpoch.INSTANCE);
    }

    /** The coordinator with the driver's default settings. */
    public static Behavior<Command> create() {
        return create(PlanDriver.Settings.DEFAULT);
    }

    public static Behavior<Command> create(PlanDriver.Settings settings) {
        return Behaviors.setup(ctx -> new UpgradeCoordinator(ctx, settings));
    }

    /** Hands the driver the journaled plan and what of it is done (a new incarnation resumes it). */
    private void drive(State s) {
        if (s.plan() != null && !s.complete()) {
            driver.tell(new PlanDriver.Drive(s.plan(), s.epoch(), s.open(), s.hostOf(), s.finished().keySet(), s.doneHosts(),
                    s.failures(), s.givenUp(), s.paused(), s.aborted()));
        }
    }

    @Override
    public State emptyState() {
        return State.empty();
    }

    @Override
    public SignalHandler<State> signalHandler() {
        return newSignalHandlerBuilder()
                .onSignal(RecoveryCompleted.instance(), state -> beginIncarnation())
                .build();
    }

    @Override
    public CommandHandler<Command, Event, State> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(BeginEpoch.class, (state, c) -> Effect().persist(new EpochBegan(state.epoch() + 1))
                        .thenRun(s -> {
                            incarnationEpoch = s.epoch();
                            drive(s);
                        }).thenUnstashAll())
                .onCommand(Passivate.class, (state, c) -> Effect().stop())
                .onCommand(c -> incarnationEpoch == 0, (state, c) -> Effect().stash())
                .onCommand(SubmitPlan.class, this::onSubmitPlan)
                .onCommand(StartStep.class, this::onStartStep)
                .onCommand(FinishStep.class, this::onFinishStep)
                .onCommand(StartSteps.class, this::onStartSteps)
                .onCommand(FinishSteps.class, this::onFinishSteps)
                .onCommand(RecordSteps.class, this::onRecordSteps)
                .onCommand(GetGroupCommits.class, (state, c) -> Effect().reply(c.replyTo(),
                        new GroupCommits(groupWrites, groupEvents, largestGroup)))
                .onCommand(GetStatus.class, (state, c) -> Effect().none().thenReply(c.replyTo(), s -> s.status(rate.perSecond())))
                .onCommand(HostDone.class, (state, c) -> state.doneHosts().contains(c.host()) || state.plan() == null
                        ? Effect().none() : Effect().persist(new HostFinished(c.host())))
                .onCommand(ControlPlan.class, this::onControl)
                .onCommand(HostLost.class, (state, c) -> inPlan(state, c.host()) && !state.unreachable().contains(c.host())
                        ? Effect().persist(new HostUnreachable(c.host())) : Effect().none())
                .onCommand(HostBack.class, (state, c) -> state.unreachable().contains(c.host()) || state.givenUp().contains(c.host())
                        ? Effect().persist(new HostReturned(c.host())) : Effect().none())
                .onCommand(GiveUpHost.class, (state, c) -> inPlan(state, c.host()) && !state.givenUp().contains(c.host())
                        && !state.doneHosts().contains(c.host()) ? Effect().persist(new HostGivenUp(c.host())) : Effect().none())
                .onCommand(Inventory.class, (state, c) -> inPlan(state, c.host())
                        && !Integer.valueOf(c.vms()).equals(state.inventory().get(c.host()))
                        ? Effect().persist(new HostInventoried(c.host(), c.vms())) : Effect().none())
                .build();
    }

    private static boolean inPlan(State state, String host) {
        return state.plan() != null && state.plan().hosts().contains(host);
    }

    private Effect<Event, State> onControl(State state, ControlPlan c) {
        OperatorAudit.member(c.replyTo().path().address().toString(),
                FleetRole.Command.valueOf(c.action().name()), "asked (" + state.name() + ")");
        if (state.plan() == null || state.complete()) {
            return Effect().reply(c.replyTo(), new Rejected("no running plan (" + state.name() + ")"));
        }
        boolean already = switch (c.action()) {
            case PAUSE -> state.paused() || state.aborted();
            case RESUME -> !state.paused() && !state.aborted();
            case ABORT -> state.aborted();
        };
        if (c.action() == Action.RESUME && state.aborted()) {
            return Effect().reply(c.replyTo(), new Rejected("an aborted plan does not resume"));
        }
        if (already) {
            return Effect().reply(c.replyTo(), new Controlled(state.name()));
        }
        return Effect().persist(new PlanControlled(c.action()))
                .thenRun(s -> driver.tell(new PlanDriver.Control(s.paused(), s.aborted())))
                .thenReply(c.replyTo(), s -> new Controlled(s.name()));
    }

    private Effect<Event, State> onSubmitPlan(State state, SubmitPlan c) {
        OperatorAudit.member(c.replyTo().path().address().toString(),
                FleetRole.Command.START, "asked: plan of " + c.plan().hosts().size() + " host(s), target "
                        + c.plan().targetVersion());
        Optional<String> tooFar = VersionStep.refusal(c.plan().targetVersion(), VersionStep.thisBuild());
        if (tooFar.isPresent()) {
            return Effect().reply(c.replyTo(), new Rejected(tooFar.get()));
        }
        if (state.plan() != null && !state.complete() && !state.openCounted().isEmpty()) {
            return Effect().reply(c.replyTo(), new Rejected("a plan is running (" + state.openCounted().size() + " step(s) open)"));
        }
        return Effect().persist(new PlanSubmitted(c.plan())).thenRun(this::drive)
                .thenReply(c.replyTo(), s -> new PlanAccepted(s.epoch(), s.plans));
    }

    private Effect<Event, State> onStartStep(State state, StartStep c) {
        if (state.plan() == null) {
            return Effect().reply(c.replyTo(), new Rejected("no plan"));
        }
        if (!state.plan().hosts().contains(c.host())) {
            return Effect().reply(c.replyTo(), new Rejected("host " + c.host() + " is not in the plan"));
        }
        String open = state.open().get(c.vm());
        if (open != null) {
            // a retried request: the same step, never a second migration of the same VM
            return Effect().reply(c.replyTo(), new StepGranted(state.hostOf().get(c.vm()), c.vm(), open, state.epoch()));
        }
        if (state.stopped() != null) {
            return Effect().reply(c.replyTo(), new Rejected(state.stopped()));
        }
        String id = "m-" + state.epoch() + "-" + state.nextStep();
        return Effect().persist(new StepStarted(c.host(), c.vm(), id))
                .thenReply(c.replyTo(), s -> new StepGranted(c.host(), c.vm(), id, s.epoch()));
    }

    private Effect<Event, State> onFinishStep(State state, FinishStep c) {
        String open = state.open().get(c.vm());
        if (c.migrationId().equals(open)) {
            return Effect().persist(new StepClosed(c.vm(), c.migrationId(), c.completed(), c.detail()))
                    .thenRun(s -> rate.closed(1)).thenReply(c.replyTo(), s -> new StepFinished(c.vm(), c.migrationId(), c.completed()));
        }
        StepRecord done = state.finished().get(c.vm());
        if (done != null && done.migrationId().equals(c.migrationId())) {
            return Effect().reply(c.replyTo(), new StepFinished(c.vm(), c.migrationId(), done.completed()));
        }
        return Effect().reply(c.replyTo(), new Rejected("no step " + c.migrationId() + " of " + c.vm()
                + (open != null ? " (open: " + open + ")" : "")));
    }

    private Effect<Event, State> onStartSteps(State state, StartSteps c) {
        if (state.plan() == null) {
            return Effect().reply(c.replyTo(), new Rejected("no plan"));
        }
        if (!state.plan().hosts().contains(c.host())) {
            return Effect().reply(c.replyTo(), new Rejected("host " + c.host() + " is not in the plan"));
        }
        List<Event> events = new ArrayList<>();
        List<Reply> replies = new ArrayList<>();
        Map<String, String> granted = new TreeMap<>();
        long next = state.nextStep();
        for (String vm : c.vms()) {
            String open = state.open().containsKey(vm) ? state.open().get(vm) : granted.get(vm);
            next = grant(state, c.host(), vm, open, state.stopped(), next, granted, events, replies);
        }
        Batch batch = new Batch(replies);
        return events.isEmpty() ? Effect().reply(c.replyTo(), batch) : Effect().persist(events).thenReply(c.replyTo(), s -> batch);
    }

    private Effect<Event, State> onFinishSteps(State state, FinishSteps c) {
        List<Event> events = new ArrayList<>();
        List<Reply> replies = new ArrayList<>();
        closeSteps(state, c.steps(), new HashSet<>(), events, replies);
        Batch batch = new Batch(replies);
        int closed = events.size();
        return events.isEmpty() ? Effect().reply(c.replyTo(), batch)
                : Effect().persist(events).thenRun(s -> rate.closed(closed)).thenReply(c.replyTo(), s -> batch);
    }

    private Effect<Event, State> onRecordSteps(State state, RecordSteps c) {
        List<Event> events = new ArrayList<>();
        List<Reply> replies = new ArrayList<>();
        Set<String> closing = new HashSet<>();
        int failed = closeSteps(state, c.ends(), closing, events, replies);
        int closed = closing.size();
        Map<String, String> granted = new HashMap<>();
        long next = state.nextStep();
        String stopped = state.stopped(failed);
        for (Start st : c.starts()) {
            String open = closing.contains(st.vm()) ? null : state.open().containsKey(st.vm()) ? state.open().get(st.vm())
                    : granted.get(st.vm());
            if (state.plan() == null) {
                replies.add(new Rejected("no plan"));
            } else if (!state.plan().hosts().contains(st.host())) {
                replies.add(new Rejected("host " + st.host() + " is not in the plan"));
            } else {
                next = grant(state, st.host(), st.vm(), open, stopped, next, granted, events, replies);
            }
        }
        Set<String> ending = new HashSet<>();
        for (String host : c.doneHosts()) {
            if (state.plan() != null && !state.doneHosts().contains(host) && ending.add(host)) {
                events.add(new HostFinished(host));
            }
        }
        Batch batch = new Batch(replies);
        if (events.isEmpty()) {
            return Effect().reply(c.replyTo(), batch);
        }
        int written = events.size();
        int closedSteps = closed;
        return Effect().persist(events).thenRun(s -> {
            rate.closed(closedSteps);
            groupWrites++;
            groupEvents += written;
            largestGroup = Math.max(largestGroup, written);
        }).thenReply(c.replyTo(), s -> batch);
    }

    /**
     * The ends of a batch ({@link FinishSteps}, and {@link RecordSteps}' ends): an open step is closed (once,
     * {@code closing} holds the VMs closed earlier in the batch), a repeated end is answered from the journal,
     * anything else rejected. Returns how many of the closed ends failed.
     */
    private static int closeSteps(State state, List<Finish> ends, Set<String> closing, List<Event> events,
            List<Reply> replies) {
        int failed = 0;
        for (Finish f : ends) {
            StepRecord done = state.finished().get(f.vm());
            if (!closing.contains(f.vm()) && f.migrationId().equals(state.open().get(f.vm()))) {
                closing.add(f.vm());
                failed += f.completed() ? 0 : 1;
                events.add(new StepClosed(f.vm(), f.migrationId(), f.completed(), f.detail()));
                replies.add(new StepFinished(f.vm(), f.migrationId(), f.completed()));
            } else if (done != null && done.migrationId().equals(f.migrationId())) {
                replies.add(new StepFinished(f.vm(), f.migrationId(), done.completed()));
            } else {
                replies.add(new Rejected("no step " + f.migrationId() + " of " + f.vm()));
            }
        }
        return failed;
    }

    /**
     * One start of a batch ({@link StartSteps}, and {@link RecordSteps}' starts): the step already {@code open}
     * for the VM (a retried request: never a second migration of the same VM), a refusal when {@code stopped},
     * or a new step numbered {@code next}. Returns the next number.
     */
    private static long grant(State state, String host, String vm, String open, String stopped, long next,
            Map<String, String> granted, List<Event> events, List<Reply> replies) {
        if (open != null) {
            String openHost = state.hostOf().containsKey(vm) ? state.hostOf().get(vm) : host;
            replies.add(new StepGranted(openHost, vm, open, state.epoch()));
            return next;
        }
        if (stopped != null) {
            replies.add(new Rejected(stopped));
            return next;
        }
        String id = "m-" + state.epoch() + "-" + next;
        granted.put(vm, id);
        events.add(new StepStarted(host, vm, id));
        replies.add(new StepGranted(host, vm, id, state.epoch()));
        return next + 1;
    }

    @Override
    public EventHandler<State, Event> eventHandler() {
        // the empty state is shared and never changed: the first event of an incarnation's recovery copies it once
        return newEventHandlerBuilder().forAnyState().onAnyEvent((s, e) -> s.writable().apply(e));
    }
}
