package dev.livetap.fleet.coordinator;

import dev.livetap.fleet.agent.HostAgent;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator's hands (a child of the singleton, so it lives and dies with the incarnation):
 * finds the host agents through the Receptionist, works on at most {@code maxParallelHosts} hosts
 * at once, asks each host's agent for its VMs, has the coordinator journal each VM's step (its
 * migration id and epoch) before sending it to the agent, and journals every outcome. At most
 * {@link Settings#stepsInFlightPerHost} steps of one host are out at once, so that a halt (more
 * failures than the plan allows) stops the rest. The driver's own state is not journaled: a new
 * incarnation gets the journaled plan, open steps and done hosts in {@link Drive} and resends the
 * open steps with their ids (the agent performs an id at most once).
 */
public final class PlanDriver {
    private static final Logger LOG = LoggerFactory.getLogger(PlanDriver.class);

    /**
     * @param stepsInFlightPerHost steps of one host sent and not answered yet
     * @param askTimeout           bound of the ask for a host's VMs (retried after {@code retryAfter})
     */
    public record Settings(int stepsInFlightPerHost, Duration askTimeout, Duration retryAfter) {
        public static final Settings DEFAULT = new Settings(4, Duration.ofSeconds(10), Duration.ofSeconds(1));

        public Settings {
            if (stepsInFlightPerHost < 1) {
                throw new IllegalArgumentException("stepsInFlightPerHost must be at least 1: " + stepsInFlightPerHost);
            }
        }
    }

    /** The driver's protocol (local: it only talks to its parent and, through adapters, to agents). */
    public sealed interface Command permits Drive, AgentsChanged, HostDescribed, Granted, StepAnswered, AskHostAgain {
    }

    /**
     * A plan to drive, with what the journal says of it: open steps (VM → id, VM → host), VMs
     * whose step is finished, hosts done, failures so far.
     */
    public record Drive(Plan plan, long epoch, Map<String, String> open, Map<String, String> hostOf, Set<String> finished,
            List<String> doneHosts, int failures) implements Command {
        public Drive {
            open = Map.copyOf(open);
            hostOf = Map.copyOf(hostOf);
            finished = Set.copyOf(finished);
            doneHosts = List.copyOf(doneHosts);
        }
    }

    record AgentsChanged(Set<ActorRef<HostAgent.Command>> agents) implements Command {
    }

    /** {@code vms} null: the ask failed ({@code error}). */
    record HostDescribed(String host, List<String> vms, String error) implements Command {
    }

    record Granted(String host, UpgradeCoordinator.Reply reply) implements Command {
    }

    record StepAnswered(String host, HostAgent.StepReply reply) implements Command {
    }

    record AskHostAgain(String host) implements Command {
    }

    /** One host being upgraded: VMs not yet asked for, steps out (VM → id). */
    private static final class HostWork {
        final Deque<String> waiting = new ArrayDeque<>();
        final Map<String, String> out = new LinkedHashMap<>();
        boolean described;
        boolean asking;
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final ActorRef<UpgradeCoordinator.Command> coordinator;
    private final Settings settings;
    private final Map<String, ActorRef<HostAgent.Command>> agents = new HashMap<>();
    private final Map<String, HostWork> active = new TreeMap<>();
    private final Deque<String> pendingHosts = new ArrayDeque<>();
    private final ActorRef<UpgradeCoordinator.Reply> ignore;
    /** One adapter for every agent's answers (adapters are one per message class); the host comes from the VM. */
    private final ActorRef<HostAgent.StepReply> answered;
    private final Map<String, String> hostOfVm = new HashMap<>();
    private Drive plan;
    private int failures;

    private PlanDriver(ActorContext<Command> context, TimerScheduler<Command> timers, ActorRef<UpgradeCoordinator.Command> coordinator,
            Settings settings) {
        this.context = context;
        this.timers = timers;
        this.coordinator = coordinator;
        this.settings = settings;
        this.ignore = context.messageAdapter(UpgradeCoordinator.Reply.class, r -> new Granted("", r));
        this.answered = context.messageAdapter(HostAgent.StepReply.class, r -> new StepAnswered(
                hostOfVm.getOrDefault(r instanceof HostAgent.StepDone d ? d.vm() : ((HostAgent.StepRefused) r).vm(), ""), r));
    }

    public static Behavior<Command> create(ActorRef<UpgradeCoordinator.Command> coordinator, Settings settings) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class,
                    l -> new AgentsChanged(l.getServiceInstances(HostAgent.KEY)));
            ctx.getSystem().receptionist().tell(Receptionist.subscribe(HostAgent.KEY, listings));
            return new PlanDriver(ctx, timers, coordinator, settings).behavior();
        }));
    }

    /** The host an agent serves, from its actor name ({@link HostAgent#ACTOR_NAME_PREFIX}); null for another name. */
    static String hostOf(ActorRef<?> agent) {
        String name = agent.path().name();
        return name.startsWith(HostAgent.ACTOR_NAME_PREFIX) ? name.substring(HostAgent.ACTOR_NAME_PREFIX.length()) : null;
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(Drive.class, this::onDrive)
                .onMessage(AgentsChanged.class, this::onAgents)
                .onMessage(HostDescribed.class, this::onDescribed)
                .onMessage(Granted.class, this::onGranted)
                .onMessage(StepAnswered.class, this::onAnswered)
                .onMessage(AskHostAgain.class, r -> {
                    HostWork w = active.get(r.host());
                    if (w != null && !w.described) {
                        describe(r.host(), w);
                    }
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> onDrive(Drive d) {
        plan = d;
        failures = d.failures();
        active.clear();
        pendingHosts.clear();
        for (String host : d.plan().hosts()) {
            if (!d.doneHosts().contains(host)) {
                pendingHosts.add(host);
            }
        }
        LOG.info("driving plan to {} over {} host(s) at epoch {} ({} done, {} step(s) open)", d.plan().targetVersion(),
                d.plan().hosts().size(), d.epoch(), d.doneHosts().size(), d.open().size());
        // hosts with open steps first: their VMs must end the step they are in
        List<String> withOpen = d.hostOf().values().stream().distinct().sorted().toList();
        for (String host : withOpen) {
            if (pendingHosts.remove(host)) {
                pendingHosts.addFirst(host);
            }
        }
        admit();
        return Behaviors.same();
    }

    private boolean halted() {
        return plan != null && failures > plan.plan().maxFailures();
    }

    /** Starts hosts while fewer than maxParallelHosts are active and the plan has not halted. */
    private void admit() {
        if (plan == null) {
            return;
        }
        while (!halted() && active.size() < plan.plan().maxParallelHosts() && !pendingHosts.isEmpty()) {
            String host = pendingHosts.poll();
            HostWork w = new HostWork();
            active.put(host, w);
            // open steps of this host (an earlier incarnation's): resend with the same ids
            plan.open().forEach((vm, id) -> {
                if (host.equals(plan.hostOf().get(vm))) {
                    w.out.put(vm, id);
                }
            });
            describe(host, w);
        }
    }

    private void describe(String host, HostWork w) {
        ActorRef<HostAgent.Command> agent = agents.get(host);
        if (agent == null || w.asking) {
            return; // asked again when the agent registers
        }
        w.asking = true;
        w.out.forEach((vm, id) -> send(host, vm, id));
        context.ask(HostAgent.AgentState.class, agent, settings.askTimeout(), HostAgent.GetState::new,
                (state, error) -> state != null ? new HostDescribed(host, state.vms(), null)
                        : new HostDescribed(host, null, String.valueOf(error)));
    }

    private Behavior<Command> onAgents(AgentsChanged c) {
        Map<String, ActorRef<HostAgent.Command>> now = new HashMap<>();
        for (ActorRef<HostAgent.Command> a : c.agents()) {
            String host = hostOf(a);
            if (host != null) {
                now.put(host, a);
            }
        }
        for (Map.Entry<String, ActorRef<HostAgent.Command>> e : now.entrySet()) {
            ActorRef<HostAgent.Command> before = agents.get(e.getKey());
            HostWork w = active.get(e.getKey());
            if (!e.getValue().equals(before) && w != null) {
                LOG.info("agent of host {} registered: {}", e.getKey(), e.getValue().path());
                agents.put(e.getKey(), e.getValue());
                if (w.described) {
                    w.out.forEach((vm, id) -> send(e.getKey(), vm, id)); // a restarted agent: same ids again
                } else {
                    w.asking = false;
                    describe(e.getKey(), w);
                }
            }
        }
        agents.keySet().retainAll(now.keySet());
        agents.putAll(now);
        return Behaviors.same();
    }

    private Behavior<Command> onDescribed(HostDescribed c) {
        HostWork w = active.get(c.host());
        if (w == null || w.described) {
            return Behaviors.same();
        }
        w.asking = false;
        if (c.vms() == null) {
            LOG.warn("host {}: asking its agent for its VMs failed ({}); retrying", c.host(), c.error());
            timers.startSingleTimer(new AskHostAgain(c.host()), settings.retryAfter());
            return Behaviors.same();
        }
        w.described = true;
        for (String vm : c.vms()) {
            if (!plan.finished().contains(vm) && !w.out.containsKey(vm)) {
                w.waiting.add(vm);
            }
        }
        LOG.info("host {}: {} VM(s) to upgrade, {} step(s) open", c.host(), w.waiting.size(), w.out.size());
        fill(c.host(), w);
        return Behaviors.same();
    }

    /** Opens steps (journaled by the coordinator) until stepsInFlightPerHost are out. */
    private void fill(String host, HostWork w) {
        List<String> next = new ArrayList<>();
        while (!halted() && w.out.size() + next.size() < settings.stepsInFlightPerHost() && !w.waiting.isEmpty()) {
            next.add(w.waiting.poll());
        }
        if (!next.isEmpty()) {
            for (String vm : next) {
                w.out.put(vm, ""); // reserved until the coordinator granted its id
                hostOfVm.put(vm, host);
            }
            // an ask (its own temporary receiver) per request: a message adapter is one per class, its host would be the last
            context.ask(UpgradeCoordinator.Reply.class, coordinator, settings.askTimeout(),
                    r -> new UpgradeCoordinator.StartSteps(host, next, r),
                    (reply, error) -> new Granted(host, reply != null ? reply
                            : new UpgradeCoordinator.Rejected("no answer to StartSteps: " + error)));
        } else if (w.out.isEmpty() && (w.waiting.isEmpty() || halted())) {
            active.remove(host);
            if (!halted() || w.waiting.isEmpty()) {
                coordinator.tell(new UpgradeCoordinator.HostDone(host));
                LOG.info("host {} done", host);
            } else {
                LOG.warn("host {}: the plan halted after {} failure(s); {} VM(s) not upgraded", host, failures, w.waiting.size());
            }
            admit();
        }
    }

    private Behavior<Command> onGranted(Granted c) {
        HostWork w = active.get(c.host());
        if (w == null || !(c.reply() instanceof UpgradeCoordinator.Batch batch)) {
            if (w != null && c.reply() instanceof UpgradeCoordinator.Rejected r) {
                // nothing granted: the reserved VMs go back to the queue (asked again on the next answer or retry)
                LOG.warn("host {}: the coordinator refused: {}", c.host(), r.reason());
                w.out.entrySet().removeIf(e -> {
                    if (e.getValue().isEmpty()) {
                        w.waiting.addFirst(e.getKey());
                        return true;
                    }
                    return false;
                });
                fill(c.host(), w);
            }
            return Behaviors.same();
        }
        for (UpgradeCoordinator.Reply r : batch.replies()) {
            if (r instanceof UpgradeCoordinator.StepGranted g) {
                w.out.put(g.vm(), g.migrationId());
                send(c.host(), g.vm(), g.migrationId());
            } else if (r instanceof UpgradeCoordinator.Rejected rej) {
                LOG.warn("host {}: a step was refused: {}", c.host(), rej.reason());
                w.out.values().removeIf(String::isEmpty);
            }
        }
        fill(c.host(), w);
        return Behaviors.same();
    }

    private void send(String host, String vm, String id) {
        ActorRef<HostAgent.Command> agent = agents.get(host);
        if (agent == null || id.isEmpty()) {
            return; // sent when the agent (re-)registers
        }
        hostOfVm.put(vm, host);
        agent.tell(new HostAgent.PerformStep(host, vm, id, plan.epoch(), answered));
    }

    private Behavior<Command> onAnswered(StepAnswered c) {
        HostWork w = active.get(c.host());
        String vm;
        String id;
        boolean completed;
        String detail;
        if (c.reply() instanceof HostAgent.StepDone d) {
            vm = d.vm();
            id = d.migrationId();
            completed = d.completed();
            detail = d.outcome() + (d.downtimeMs() >= 0 ? String.format(java.util.Locale.ROOT, " (downtime %.3f ms)", d.downtimeMs()) : "");
        } else {
            HostAgent.StepRefused r = (HostAgent.StepRefused) c.reply();
            vm = r.vm();
            id = r.migrationId();
            completed = false;
            detail = "refused: " + r.reason();
            if (r.reason().startsWith("fenced")) {
                // a newer incarnation exists: this one must not record anything more
                LOG.warn("host {}: fenced ({}); this coordinator stops driving", c.host(), r.reason());
                plan = null;
                active.clear();
                pendingHosts.clear();
                return Behaviors.same();
            }
        }
        if (w == null || !id.equals(w.out.get(vm))) {
            return Behaviors.same(); // an answer to a resend already recorded
        }
        w.out.remove(vm);
        if (!completed) {
            failures++;
            LOG.warn("host {}: step {} of {} failed: {}", c.host(), id, vm, detail);
        }
        coordinator.tell(new UpgradeCoordinator.FinishStep(vm, id, completed, detail, ignore));
        fill(c.host(), w);
        return Behaviors.same();
    }
}
