package dev.livetap.fleet.agent;

import com.fasterxml.jackson.annotation.JsonCreator;
import dev.livetap.fleet.FleetSerializable;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.testbed.orchestration.LocalMigration;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * One per host: registers with the Receptionist under {@link #KEY}, performs the steps the
 * coordinator grants through a {@link MigrationPort}, each inside a place of the host's
 * {@link FreezeBudget}, and is the fence: a step whose coordinator epoch is older than the highest
 * epoch this agent has accepted (kept in its {@link StepLedger}, so across agent restarts) is
 * refused, so a coordinator that was downed and came back cannot act. A migration id is performed
 * at most once: a repeated step gets the recorded outcome (or waits for the running one).
 */
public final class HostAgent {
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "livetap-host-agent");
    /** The agent's actor name is this prefix and its host: the coordinator's driver reads the host from it. */
    public static final String ACTOR_NAME_PREFIX = "host-agent-";

    /** What performs one VM's migration (the real one drives {@code LocalMigration}). */
    @FunctionalInterface
    public interface MigrationPort {
        /** Blocking; runs on the agent's executor, never on an actor thread. */
        StepDone migrate(String vm, String migrationId) throws Exception;

        /**
         * {@link #migrate(String, String)} onto a VMM of build {@code targetVersion} (one of {@link #builds()}, or
         * {@link VmmBuilds#CURRENT}); a port that does not tell builds apart starts its own.
         */
        default StepDone migrate(String vm, String migrationId, String targetVersion) throws Exception {
            return migrate(vm, migrationId);
        }

        /**
         * True: the port sends its migrations through {@link #migrate(String, String, String, LocalMigration.SwitchoverGate)}
         * and calls the gate right before the switch-over ({@code migrate}), so the agent's freeze permit covers
         * {@code migrate} → target running only; false: the agent holds the permit around the whole port call.
         */
        default boolean gatesSwitchover() {
            return false;
        }

        /**
         * {@link #migrate(String, String, String)} whose switch-over is admitted by {@code gate} (a place of the agent's
         * freeze budget): called only when {@link #gatesSwitchover()} is true; the port hands the gate to the driver
         * ({@link LocalMigration.Options#withSwitchoverGate}).
         */
        default StepDone migrate(String vm, String migrationId, String targetVersion, LocalMigration.SwitchoverGate gate)
                throws Exception {
            throw new UnsupportedOperationException("this migration port does not gate its switch-over");
        }

        /** The VMM builds (versions) the port can start; empty: it does not tell builds apart (any version is its own). */
        default List<String> builds() {
            return List.of();
        }

        /**
         * The build (version) each VM runs, for the VMs where the port can tell ({@code fleet plan} counts with it the VMs
         * a plan would skip, {@link VmmBuilds#alreadyOn}); empty: it cannot tell.
         */
        default Map<String, String> vmBuilds() {
            return Map.of();
        }

        /** The VMs of this host the port can migrate (the coordinator's driver plans a host's steps from it). */
        default List<String> vms() {
            return List.of();
        }

        /**
         * How step {@code migrationId} of {@code vm}, begun before the agent restarted and never
         * recorded as ended, did end ({@code completed}, a failure text, or {@link #NOT_STARTED}), from the VMMs themselves;
         * empty when the port cannot tell (the step is then refused as needing reconciliation).
         */
        /** {@link #reconcile}'s answer for a step that never touched the VM (it may be performed now). */
        String NOT_STARTED = "not-started";

        default Optional<String> reconcile(String vm, String migrationId) throws IOException {
            return Optional.empty();
        }
    }

    public sealed interface Command extends FleetSerializable permits PerformStep, GetState, StepEnded {
    }

    /** A step granted by the coordinator of {@code epoch}: move the VM onto a VMM of build {@code targetVersion}. */
    public record PerformStep(String host, String vm, String migrationId, long epoch, String targetVersion,
            ActorRef<StepReply> replyTo) implements Command {
        @JsonCreator
        public PerformStep {
            targetVersion = targetVersion == null ? VmmBuilds.CURRENT : targetVersion;
        }

        /** A step onto the agent's own build. */
        public PerformStep(String host, String vm, String migrationId, long epoch, ActorRef<StepReply> replyTo) {
            this(host, vm, migrationId, epoch, VmmBuilds.CURRENT, replyTo);
        }
    }

    public record GetState(ActorRef<AgentState> replyTo) implements Command {
    }

    /** The end of a running step (from the executor, through pipeToSelf). */
    record StepEnded(String vm, StepDone done) implements Command {
    }

    public sealed interface StepReply extends FleetSerializable permits StepDone, StepRefused, StepRunning {
        String vm();

        String migrationId();
    }

    /** The answer to a repeat of a step that is still running (its end goes to every waiter once). */
    public record StepRunning(String vm, String migrationId) implements StepReply {
    }

    /**
     * {@code outcome}: {@code completed}, {@code SKIPPED already on VERSION} (the VM's VMM runs the target build: not
     * moved, not failed) or a failure text; {@code downtimeMs} -1 when unknown.
     */
    public record StepDone(String vm, String migrationId, String outcome, double downtimeMs) implements StepReply {
        /** How a skipped step's outcome begins (the version follows). */
        public static final String SKIPPED_PREFIX = "SKIPPED already on ";

        public boolean completed() {
            return "completed".equals(outcome);
        }

        /** The VM was on the target build already: nothing was done. */
        public boolean skipped() {
            return outcome != null && outcome.startsWith(SKIPPED_PREFIX);
        }
    }

    public record StepRefused(String vm, String migrationId, String reason) implements StepReply {
    }

    /**
     * {@code vms}: what the port reports it can migrate, sorted; {@code builds}: the VMM versions it can start
     * (empty: it does not tell builds apart).
     */
    public record AgentState(String host, long highestEpoch, Map<String, String> running, int budgetLimit, List<String> vms,
            List<String> builds, Map<String, String> vmBuilds) implements FleetSerializable {
        @JsonCreator
        public AgentState {
            vms = List.copyOf(vms);
            builds = builds == null ? List.of() : List.copyOf(builds);
            vmBuilds = vmBuilds == null ? Map.of() : Map.copyOf(vmBuilds); // null: an agent of an older build
        }

        public AgentState(String host, long highestEpoch, Map<String, String> running, int budgetLimit, List<String> vms,
                List<String> builds) {
            this(host, highestEpoch, running, budgetLimit, vms, builds, Map.of());
        }

        public AgentState(String host, long highestEpoch, Map<String, String> running, int budgetLimit, List<String> vms) {
            this(host, highestEpoch, running, budgetLimit, vms, List.of());
        }

        /** How many of its VMs a step onto {@code targetVersion} would leave where they are ({@link VmmBuilds#alreadyOn}). */
        public int alreadyOn(String targetVersion) {
            return (int) vms.stream().filter(vm -> VmmBuilds.alreadyOn(targetVersion, Optional.ofNullable(vmBuilds.get(vm)))).count();
        }

        /** Whether a step onto {@code version} would be accepted here (as far as builds go). */
        public boolean has(String version) {
            return VmmBuilds.offers(builds, version);
        }
    }

    /** A running step: its migration id and who waits for its end. */
    private record Running(String migrationId, List<ActorRef<StepReply>> waiters) {
    }

    /** The agent's state between messages: VM → running step. */
    private record Held(Map<String, Running> running) {
    }

    private final ActorContext<Command> context;
    private final String host;
    private final StepLedger ledger;
    private final FreezeBudget budget;
    private final Duration permitTimeout;
    private final MigrationPort port;
    private final Executor executor;

    private HostAgent(ActorContext<Command> context, String host, StepLedger ledger, FreezeBudget budget, Duration permitTimeout,
            MigrationPort port, Executor executor) {
        this.context = context;
        this.host = host;
        this.ledger = ledger;
        this.budget = budget;
        this.permitTimeout = permitTimeout;
        this.port = port;
        this.executor = executor;
    }

    /**
     * @param ledger   the agent's step ledger; the agent closes it when it stops
     * @param executor where blocking migrations run (named threads the caller owns)
     */
    public static Behavior<Command> create(String host, StepLedger ledger, FreezeBudget budget, Duration permitTimeout,
            MigrationPort port, Executor executor) {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
            return new HostAgent(ctx, host, ledger, budget, permitTimeout, port, executor).serving(new Held(Map.of()));
        });
    }

    private Behavior<Command> serving(Held held) {
        return Behaviors.receive(Command.class)
                .onMessage(PerformStep.class, c -> onPerformStep(held, c))
                .onMessage(StepEnded.class, c -> onStepEnded(held, c))
                .onMessage(GetState.class, c -> {
                    Map<String, String> running = new TreeMap<>();
                    held.running().forEach((vm, r) -> running.put(vm, r.migrationId()));
                    c.replyTo().tell(new AgentState(host, ledger.highestEpoch(), Map.copyOf(running), budget.limit(),
                            port.vms().stream().sorted().toList(), port.builds(), port.vmBuilds()));
                    return Behaviors.same();
                })
                .onSignal(PostStop.class, s -> {
                    ledger.close();
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> onPerformStep(Held held, PerformStep c) throws IOException {
        if (!host.equals(c.host())) {
            c.replyTo().tell(new StepRefused(c.vm(), c.migrationId(), "this agent serves host " + host + ", not " + c.host()));
            return Behaviors.same();
        }
        long highest = ledger.highestEpoch();
        if (c.epoch() < highest) {
            c.replyTo().tell(new StepRefused(c.vm(), c.migrationId(), "fenced: coordinator epoch " + c.epoch()
                    + " is older than epoch " + highest + " already accepted"));
            return Behaviors.same();
        }
        if (c.epoch() > highest) {
            ledger.recordEpoch(c.epoch()); // on disk before anything of the new epoch is done
        }
        Running now = held.running().get(c.vm());
        if (now != null && now.migrationId().equals(c.migrationId())) {
            // a repeat (the coordinator's step timeout, or a new incarnation): tell it the step is alive
            c.replyTo().tell(new StepRunning(c.vm(), c.migrationId()));
            if (now.waiters().contains(c.replyTo())) {
                return Behaviors.same();
            }
            List<ActorRef<StepReply>> waiters = new ArrayList<>(now.waiters());
            waiters.add(c.replyTo());
            return serving(new Held(with(held.running(), c.vm(), new Running(now.migrationId(), List.copyOf(waiters)))));
        }
        if (now != null) {
            c.replyTo().tell(new StepRefused(c.vm(), c.migrationId(), "the VM is in migration " + now.migrationId()));
            return Behaviors.same();
        }
        Optional<StepLedger.Entry> known = ledger.get(c.migrationId());
        if (known.isPresent() && !known.get().open()) {
            c.replyTo().tell(new StepDone(c.vm(), c.migrationId(), known.get().outcome(), -1));
            return Behaviors.same();
        }
        Optional<StepLedger.Entry> unresolved = known.isPresent() ? known : ledger.openStepOf(c.vm());
        if (unresolved.isPresent()) {
            StepLedger.Entry open = unresolved.get();
            Optional<String> outcome = port.reconcile(open.vm(), open.migrationId());
            boolean notStarted = outcome.isPresent() && MigrationPort.NOT_STARTED.equals(outcome.get());
            if (notStarted && open.migrationId().equals(c.migrationId())) {
                // accepted, then waiting (for a permit) when the agent died: nothing touched the VM, perform it now
                context.getLog().info("step {} of {} never launched anything before the restart; performing it now",
                        open.migrationId(), open.vm());
            } else if (outcome.isPresent()) {
                String end = notStarted ? "failed: never started before the agent restarted" : outcome.get();
                ledger.recordEnded(open.migrationId(), open.vm(), end);
                context.getLog().info("step {} of {} reconciled after a restart: {}", open.migrationId(), open.vm(), end);
                return onPerformStep(held, c); // the ledger now knows its end: answered as any recorded step
            }
            if (outcome.isEmpty()) {
                c.replyTo().tell(new StepRefused(c.vm(), c.migrationId(), "migration " + unresolved.get().migrationId()
                        + " of this VM began before the agent restarted and has no recorded end; it needs reconciling and the "
                        + "migration port cannot tell how it ended"));
                return Behaviors.same();
            }
        }
        List<String> builds = port.builds();
        if (!VmmBuilds.offers(builds, c.targetVersion())) {
            // before the ledger: nothing was started, a later plan (once the build is installed) may perform the VM
            c.replyTo().tell(new StepRefused(c.vm(), c.migrationId(), "this agent has no VMM build " + c.targetVersion()
                    + " (it has " + String.join(", ", builds) + "): start it with --vmm-build " + c.targetVersion() + "=LAUNCHER"));
            return Behaviors.same();
        }
        ledger.recordStarted(c.migrationId(), c.vm(), c.epoch());
        String vm = c.vm();
        String id = c.migrationId();
        String version = c.targetVersion();
        CompletableFuture<StepDone> run = CompletableFuture.supplyAsync(() -> performInRun(vm, id, version), executor);
        context.pipeToSelf(run, (done, error) -> new StepEnded(vm,
                done != null ? done : new StepDone(vm, id, "failed: " + error, -1)));
        return serving(new Held(with(held.running(), vm, new Running(id, List.of(c.replyTo())))));
    }

    /**
     * The port's call inside a look-ahead place of the budget (at most K + L runs of this host at once, a no-op wait
     * when runs are not bounded), taken before the port starts or connects to any VMM; the place goes back whatever
     * the end. The wait and the freeze permit's share one deadline: the permit timeout from here.
     */
    private StepDone performInRun(String vm, String id, String version) {
        long deadline = System.nanoTime() + permitTimeout.toNanos();
        FreezeBudget.RunPlace place;
        try {
            place = budget.enterRun(permitTimeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new StepDone(vm, id, "failed: interrupted while waiting for a look-ahead place (the VM was not touched)", -1);
        } catch (Exception e) {
            return new StepDone(vm, id, "failed: no look-ahead place (the VM was not touched): " + e.getMessage(), -1);
        }
        try {
            return port.gatesSwitchover() ? performGated(vm, id, version, deadline) : performInsidePermit(vm, id, version, deadline);
        } finally {
            budget.leaveRun(place);
        }
    }

    /** What is left until {@code deadline} (never negative). */
    private static Duration left(long deadline) {
        return Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    }

    /**
     * The port's switch-over inside a place of the budget: the gate takes the permit right before {@code migrate}
     * (bounded by the permit timeout and by what is left of the driver's), the driver gives it back once the
     * migration ended, with its downtime; the port's set-up (a target VMM started, its NIC, QMP) is outside.
     */
    private StepDone performGated(String vm, String id, String version, long deadline) {
        LocalMigration.SwitchoverGate gate = maxWait -> {
            Duration ours = left(deadline);
            FreezeBudget.Permit permit = budget.acquire(maxWait.compareTo(ours) < 0 ? maxWait : ours);
            return downtimeMs -> budget.release(permit, downtimeMs);
        };
        try {
            StepDone done = port.migrate(vm, id, version, gate);
            return done != null ? done : new StepDone(vm, id, "failed: the migration port gave no outcome", -1);
        } catch (Exception e) {
            return new StepDone(vm, id, "failed: " + e, -1);
        }
    }

    /** The whole port call inside a place of the budget (a port that does not gate its switch-over). */
    private StepDone performInsidePermit(String vm, String id, String version, long deadline) {
        FreezeBudget.Permit permit;
        try {
            permit = budget.acquire(left(deadline));
        } catch (Exception e) {
            return new StepDone(vm, id, "no freeze permit: " + e.getMessage(), -1);
        }
        StepDone done = null;
        try {
            done = port.migrate(vm, id, version);
            return done;
        } catch (Exception e) {
            return new StepDone(vm, id, "failed: " + e, -1);
        } finally {
            budget.release(permit, done != null && done.completed() ? done.downtimeMs() : -1);
        }
    }

    private Behavior<Command> onStepEnded(Held held, StepEnded c) throws IOException {
        Running r = held.running().get(c.vm());
        ledger.recordEnded(c.done().migrationId(), c.vm(), c.done().outcome());
        if (r != null) {
            r.waiters().forEach(w -> w.tell(c.done()));
        }
        Map<String, Running> rest = new TreeMap<>(held.running());
        rest.remove(c.vm());
        return serving(new Held(Map.copyOf(rest)));
    }

    private static Map<String, Running> with(Map<String, Running> map, String vm, Running r) {
        Map<String, Running> copy = new TreeMap<>(map);
        copy.put(vm, r);
        return Map.copyOf(copy);
    }
}
