package dev.livetap.fleet.coordinator;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.livetap.fleet.FleetSerializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
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
 */
public final class UpgradeCoordinator extends EventSourcedBehavior<UpgradeCoordinator.Command, UpgradeCoordinator.Event,
        UpgradeCoordinator.State> {
    public static final String SINGLETON_NAME = "upgrade-coordinator";
    public static final PersistenceId PERSISTENCE_ID = PersistenceId.ofUniqueId("livetap-upgrade-coordinator");

    /** The coordinator's protocol. */
    public sealed interface Command extends FleetSerializable permits SubmitPlan, StartStep, FinishStep, StartSteps, FinishSteps,
            GetStatus, Passivate, BeginEpoch, HostDone {
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
        @JsonSubTypes.Type(value = Batch.class, name = "batch")})
    public sealed interface Reply extends FleetSerializable permits PlanAccepted, StepGranted, StepFinished, Rejected, Status, Batch {
    }

    /** The per-VM answers of a {@link StartSteps} or {@link FinishSteps}, in its order. */
    public record Batch(List<Reply> replies) implements Reply {
        public Batch {
            replies = List.copyOf(replies);
        }
    }

    public record PlanAccepted(long epoch) implements Reply {
    }

    /** A step to perform: the agent records {@code migrationId} and refuses epochs older than {@code epoch}. */
    public record StepGranted(String host, String vm, String migrationId, long epoch) implements Reply {
    }

    public record StepFinished(String vm, String migrationId, boolean completed) implements Reply {
    }

    public record Rejected(String reason) implements Reply {
    }

    /** The journaled state as seen now. */
    /** {@code complete}: every host of the plan is done (or it halted and no step is open). */
    public record Status(long epoch, Plan plan, Map<String, String> open, Map<String, StepRecord> finished, int failures,
            boolean halted, List<String> doneHosts, boolean complete) implements Reply {
        public Status {
            doneHosts = List.copyOf(doneHosts);
        }
    }

    /** A finished step. */
    public record StepRecord(String host, String migrationId, boolean completed, String detail) implements FleetSerializable {
    }

    /** Journaled events. */
    public sealed interface Event extends FleetSerializable permits EpochBegan, PlanSubmitted, StepStarted, StepClosed,
            HostFinished {
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
     * @param open     VM → migration id of its open step; {@code hostOf} the open step's host
     * @param nextStep the sequence number of the next migration id
     */
    public record State(long epoch, Plan plan, Map<String, String> open, Map<String, String> hostOf,
            Map<String, StepRecord> finished, long nextStep, int failures, List<String> doneHosts) {
        static State empty() {
            return new State(0, null, Map.of(), Map.of(), Map.of(), 1, 0, List.of());
        }

        boolean complete() {
            return plan != null && open.isEmpty() && (halted() || doneHosts.containsAll(plan.hosts()));
        }

        boolean halted() {
            return plan != null && failures > plan.maxFailures();
        }

        Status status() {
            return new Status(epoch, plan, open, finished, failures, halted(), doneHosts, complete());
        }
    }

    private final ActorContext<Command> context;
    private final ActorRef<PlanDriver.Command> driver;
    /** The epoch this incarnation persisted; 0 until then (commands are stashed meanwhile). */
    private long incarnationEpoch;

    private UpgradeCoordinator(ActorContext<Command> context, PlanDriver.Settings settings) {
        super(PERSISTENCE_ID);
        this.context = context;
        this.driver = context.spawn(PlanDriver.create(context.getSelf(), settings), "plan-driver");
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
                    s.failures()));
        }
    }

    @Override
    public State emptyState() {
        return State.empty();
    }

    @Override
    public SignalHandler<State> signalHandler() {
        return newSignalHandlerBuilder()
                .onSignal(RecoveryCompleted.instance(), state -> context.getSelf().tell(BeginEpoch.INSTANCE))
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
                .onCommand(GetStatus.class, (state, c) -> Effect().none().thenReply(c.replyTo(), State::status))
                .onCommand(HostDone.class, (state, c) -> state.doneHosts().contains(c.host()) || state.plan() == null
                        ? Effect().none() : Effect().persist(new HostFinished(c.host())))
                .build();
    }

    private Effect<Event, State> onSubmitPlan(State state, SubmitPlan c) {
        if (state.plan() != null && !state.halted() && !state.open().isEmpty()) {
            return Effect().reply(c.replyTo(), new Rejected("a plan is running (" + state.open().size() + " step(s) open)"));
        }
        return Effect().persist(new PlanSubmitted(c.plan())).thenRun(this::drive)
                .thenReply(c.replyTo(), s -> new PlanAccepted(s.epoch()));
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
        if (state.halted()) {
            return Effect().reply(c.replyTo(), new Rejected("the plan halted after " + state.failures() + " failure(s)"));
        }
        String id = "m-" + state.epoch() + "-" + state.nextStep();
        return Effect().persist(new StepStarted(c.host(), c.vm(), id))
                .thenReply(c.replyTo(), s -> new StepGranted(c.host(), c.vm(), id, s.epoch()));
    }

    private Effect<Event, State> onFinishStep(State state, FinishStep c) {
        String open = state.open().get(c.vm());
        if (c.migrationId().equals(open)) {
            return Effect().persist(new StepClosed(c.vm(), c.migrationId(), c.completed(), c.detail()))
                    .thenReply(c.replyTo(), s -> new StepFinished(c.vm(), c.migrationId(), c.completed()));
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
            if (open != null) {
                String host = state.hostOf().containsKey(vm) ? state.hostOf().get(vm) : c.host();
                replies.add(new StepGranted(host, vm, open, state.epoch()));
            } else if (state.halted()) {
                replies.add(new Rejected("the plan halted after " + state.failures() + " failure(s)"));
            } else {
                String id = "m-" + state.epoch() + "-" + next++;
                granted.put(vm, id);
                events.add(new StepStarted(c.host(), vm, id));
                replies.add(new StepGranted(c.host(), vm, id, state.epoch()));
            }
        }
        Batch batch = new Batch(replies);
        return events.isEmpty() ? Effect().reply(c.replyTo(), batch) : Effect().persist(events).thenReply(c.replyTo(), s -> batch);
    }

    private Effect<Event, State> onFinishSteps(State state, FinishSteps c) {
        List<Event> events = new ArrayList<>();
        List<Reply> replies = new ArrayList<>();
        Map<String, String> closing = new TreeMap<>(state.open());
        for (Finish f : c.steps()) {
            StepRecord done = state.finished().get(f.vm());
            if (f.migrationId().equals(closing.get(f.vm()))) {
                closing.remove(f.vm());
                events.add(new StepClosed(f.vm(), f.migrationId(), f.completed(), f.detail()));
                replies.add(new StepFinished(f.vm(), f.migrationId(), f.completed()));
            } else if (done != null && done.migrationId().equals(f.migrationId())) {
                replies.add(new StepFinished(f.vm(), f.migrationId(), done.completed()));
            } else {
                replies.add(new Rejected("no step " + f.migrationId() + " of " + f.vm()));
            }
        }
        Batch batch = new Batch(replies);
        return events.isEmpty() ? Effect().reply(c.replyTo(), batch) : Effect().persist(events).thenReply(c.replyTo(), s -> batch);
    }

    @Override
    public EventHandler<State, Event> eventHandler() {
        return newEventHandlerBuilder().forAnyState()
                .onEvent(EpochBegan.class, (s, e) -> new State(e.epoch(), s.plan(), s.open(), s.hostOf(), s.finished(),
                        s.nextStep(), s.failures(), s.doneHosts()))
                .onEvent(PlanSubmitted.class, (s, e) -> new State(s.epoch(), e.plan(), s.open(), s.hostOf(), Map.of(),
                        s.nextStep(), 0, List.of()))
                .onEvent(StepStarted.class, (s, e) -> new State(s.epoch(), s.plan(), with(s.open(), e.vm(), e.migrationId()),
                        with(s.hostOf(), e.vm(), e.host()), s.finished(), s.nextStep() + 1, s.failures(), s.doneHosts()))
                .onEvent(StepClosed.class, (s, e) -> new State(s.epoch(), s.plan(), without(s.open(), e.vm()),
                        without(s.hostOf(), e.vm()), with(s.finished(), e.vm(),
                                new StepRecord(s.hostOf().get(e.vm()), e.migrationId(), e.completed(), e.detail())),
                        s.nextStep(), s.failures() + (e.completed() ? 0 : 1), s.doneHosts()))
                .onEvent(HostFinished.class, (s, e) -> new State(s.epoch(), s.plan(), s.open(), s.hostOf(), s.finished(),
                        s.nextStep(), s.failures(), appended(s.doneHosts(), e.host())))
                .build();
    }

    private static <V> Map<String, V> with(Map<String, V> map, String key, V value) {
        TreeMap<String, V> copy = new TreeMap<>(map);
        copy.put(key, value);
        return java.util.Collections.unmodifiableMap(copy);
    }

    private static List<String> appended(List<String> list, String value) {
        List<String> copy = new ArrayList<>(list);
        copy.add(value);
        return List.copyOf(copy);
    }

    private static <V> Map<String, V> without(Map<String, V> map, String key) {
        TreeMap<String, V> copy = new TreeMap<>(map);
        copy.remove(key);
        return java.util.Collections.unmodifiableMap(copy);
    }
}
