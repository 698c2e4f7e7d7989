package dev.livetap.fleet.coordinator;

import dev.livetap.fleet.agent.HostAgent;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
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
 * migration id and epoch) before sending it to the agent, and journals every outcome (by group commit: one
 * {@link UpgradeCoordinator.RecordSteps} in flight, what became due meanwhile in the next). At most
 * {@link Settings#stepsInFlightPerHost} steps of one host are out at once, so that a halt (more
 * failures than the plan allows), a pause or an abort stops the rest. The driver's own state is not
 * journaled: a new incarnation gets the journaled plan, open steps, done and given-up hosts and the
 * operator's pause/abort in {@link Drive} and resends the open steps with their ids (the agent
 * performs an id at most once).
 *
 * <p>Time limits (docs/fleet.md, "When an agent does not answer"): a step not answered within the
 * plan's step timeout is sent again with the same id (the agent answers a repeat of a running step
 * with "running"); after {@link #SILENT_RETRIES} unanswered repeats, or when the host's agent leaves
 * the Receptionist's listing (its node unreachable or downed), the host is <em>lost</em>: its open
 * steps are journaled as unknown, it leaves its parallel-hosts slot and the plan goes on with other
 * hosts. A lost host whose agent registers again is taken up first: its unknown steps are sent
 * again with their ids (the agent answers each from its ledger or reconciles it from the VMMs) and
 * its other VMs continue. A host lost longer than the plan's host-down limit is given up (one
 * failure); its unknown steps stay open in the journal, so none of its VMs gets a second migration.
 */
public final class PlanDriver {
    private static final Logger LOG = LoggerFactory.getLogger(PlanDriver.class);
    /** Repeats of one step with no answer at all (not even "running") before its host counts as lost. */
    static final int SILENT_RETRIES = 3;

    /**
     * @param stepsInFlightPerHost steps of one host sent and not answered yet
     * @param askTimeout           bound of the ask for a host's VMs (retried after {@code retryAfter}); also how long an
     *                             admitted host's agent may be missing from the listing before the host counts as lost
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
    public sealed interface Command permits Drive, Control, AgentsChanged, HostDescribed, Recorded, StepAnswered, AskHostAgain,
            StepTimedOut, AgentMissing, HostDownLimit {
    }

    /**
     * A plan to drive, with what the journal says of it: open steps (VM → id, VM → host), VMs
     * whose step is finished, hosts done and given up, failures so far, the operator's pause/abort.
     */
    public record Drive(Plan plan, long epoch, Map<String, String> open, Map<String, String> hostOf, Set<String> finished,
            List<String> doneHosts, int failures, List<String> givenUp, boolean paused, boolean aborted) implements Command {
        public Drive {
            open = Map.copyOf(open);
            hostOf = Map.copyOf(hostOf);
            finished = Set.copyOf(finished);
            doneHosts = List.copyOf(doneHosts);
            givenUp = List.copyOf(givenUp);
        }
    }

    /** The operator's pause/resume/abort, after the coordinator journaled it. */
    public record Control(boolean paused, boolean aborted) implements Command {
    }

    record AgentsChanged(Set<ActorRef<HostAgent.Command>> agents) implements Command {
    }

    /** {@code vms} null: the ask failed ({@code error}). */
    record HostDescribed(String host, List<String> vms, String error) implements Command {
    }

    /** The coordinator's answer to the {@link UpgradeCoordinator.RecordSteps} of these ends, starts and hosts done. */
    record Recorded(List<UpgradeCoordinator.Finish> ends, List<UpgradeCoordinator.Start> starts, List<String> doneHosts,
            UpgradeCoordinator.Reply reply) implements Command {
    }

    record StepAnswered(String host, HostAgent.StepReply reply) implements Command {
    }

    record AskHostAgain(String host) implements Command {
    }

    record StepTimedOut(String host, String vm, String migrationId) implements Command {
    }

    /** An admitted host's agent was still not in the listing after the grace. */
    record AgentMissing(String host) implements Command {
    }

    record HostDownLimit(String host) implements Command {
    }

    /** One host being upgraded: VMs not yet asked for, steps out (VM → id), unanswered repeats per VM. */
    private static final class HostWork {
        final Deque<String> waiting = new ArrayDeque<>();
        final Map<String, String> out = new LinkedHashMap<>();
        final Map<String, Integer> silentRepeats = new HashMap<>();
        boolean described;
        boolean asking;
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final ActorRef<UpgradeCoordinator.Command> coordinator;
    private final Settings settings;
    private final Map<String, ActorRef<HostAgent.Command>> agents = new HashMap<>();
    private final Map<String, HostWork> active = new TreeMap<>();
    /** Lost hosts (agent gone): their work, kept for when the agent comes back. */
    private final Map<String, HostWork> lost = new TreeMap<>();
    private final Set<String> givenUp = new TreeSet<>();
    private final Deque<String> pendingHosts = new ArrayDeque<>();
    private final Set<String> finishedVms = new HashSet<>();
    /*
     * The group commit: what becomes due while a RecordSteps is being journaled waits here and goes
     * out as the next one when it is answered (one write in flight), so one journal write carries
     * every end, start and host done of that time, not one write each.
     */
    private final List<UpgradeCoordinator.Finish> pendingEnds = new ArrayList<>();
    private final List<UpgradeCoordinator.Start> pendingStarts = new ArrayList<>();
    private final List<String> pendingDone = new ArrayList<>();
    private boolean writing;
    /** One adapter for every agent's answers (adapters are one per message class); the host comes from the VM. */
    private final ActorRef<HostAgent.StepReply> answered;
    private final Map<String, String> hostOfVm = new HashMap<>();
    private Drive plan;
    private int failures;
    private boolean paused;
    private boolean aborted;

    private PlanDriver(ActorContext<Command> context, TimerScheduler<Command> timers, ActorRef<UpgradeCoordinator.Command> coordinator,
            Settings settings) {
        this.context = context;
        this.timers = timers;
        this.coordinator = coordinator;
        this.settings = settings;
        this.answered = context.messageAdapter(HostAgent.StepReply.class, r -> new StepAnswered(hostOfVm.getOrDefault(r.vm(), ""), r));
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
                .onMessage(Control.class, this::onControl)
                .onMessage(AgentsChanged.class, this::onAgents)
                .onMessage(HostDescribed.class, this::onDescribed)
                .onMessage(Recorded.class, this::onRecorded)
                .onMessage(StepAnswered.class, this::onAnswered)
                .onMessage(AskHostAgain.class, r -> {
                    HostWork w = active.get(r.host());
                    if (w != null && !w.described) {
                        describe(r.host(), w);
                    }
                    return Behaviors.same();
                })
                .onMessage(StepTimedOut.class, this::onStepTimedOut)
                .onMessage(AgentMissing.class, m -> {
                    if (active.containsKey(m.host()) && !agents.containsKey(m.host())) {
                        hostLost(m.host(), "its agent is not registered");
                    }
                    return Behaviors.same();
                })
                .onMessage(HostDownLimit.class, this::onHostDownLimit)
                .build();
    }

    private Behavior<Command> onDrive(Drive d) {
        plan = d;
        failures = d.failures();
        paused = d.paused();
        aborted = d.aborted();
        active.clear();
        lost.clear();
        pendingHosts.clear();
        finishedVms.clear();
        finishedVms.addAll(d.finished());
        givenUp.clear();
        givenUp.addAll(d.givenUp());
        pendingStarts.clear(); // their hosts' work starts again from the journal's open steps
        pendingDone.clear();
        timers.cancelAll();
        for (String host : d.plan().hosts()) {
            if (!d.doneHosts().contains(host) && !givenUp.contains(host)) {
                pendingHosts.add(host);
            }
        }
        LOG.info("driving plan to {} over {} host(s) at epoch {} ({} done, {} given up, {} step(s) open{}{})",
                d.plan().targetVersion(), d.plan().hosts().size(), d.epoch(), d.doneHosts().size(), givenUp.size(), d.open().size(),
                paused ? ", paused" : "", aborted ? ", aborted" : "");
        // hosts with open steps first: their VMs must end the step they are in
        List<String> withOpen = d.hostOf().values().stream().distinct().sorted().toList();
        for (String host : withOpen) {
            if (pendingHosts.remove(host)) {
                pendingHosts.addFirst(host);
            } else if (givenUp.contains(host) && d.plan().hosts().contains(host)) {
                // given up with unknown steps: settled when its agent is (or comes) back, no new step
                HostWork w = workWithOpenSteps(host);
                lost.put(host, w);
                if (agents.containsKey(host)) {
                    w.out.forEach((vm, id) -> send(host, vm, id));
                }
            }
        }
        admit();
        return Behaviors.same();
    }

    private HostWork workWithOpenSteps(String host) {
        HostWork w = new HostWork();
        plan.open().forEach((vm, id) -> {
            if (host.equals(plan.hostOf().get(vm)) && !finishedVms.contains(vm)) {
                w.out.put(vm, id);
                hostOfVm.put(vm, host);
            }
        });
        return w;
    }

    private Behavior<Command> onControl(Control c) {
        if (plan == null) {
            return Behaviors.same();
        }
        paused = c.paused();
        aborted = c.aborted();
        LOG.info("plan {}", aborted ? "aborted: no new step starts" : paused ? "paused: no new step starts" : "resumed");
        for (String host : List.copyOf(active.keySet())) {
            HostWork w = active.get(host);
            if (w != null && w.described) {
                fill(host, w);
            }
        }
        admit();
        return Behaviors.same();
    }

    private boolean halted() {
        return plan != null && failures > plan.plan().maxFailures();
    }

    /** No new step may start (open steps are still sent and recorded). */
    private boolean stopped() {
        return halted() || paused || aborted;
    }

    /**
     * Starts hosts while fewer than maxParallelHosts are active: any host while no new step may start is
     * refused, only hosts with open steps (to record them) otherwise.
     */
    private void admit() {
        if (plan == null) {
            return;
        }
        while (active.size() < plan.plan().maxParallelHosts() && !pendingHosts.isEmpty()) {
            String host = pendingHosts.peek();
            HostWork w = lost.containsKey(host) ? lost.remove(host) : workWithOpenSteps(host);
            if (stopped() && w.out.isEmpty()) {
                return;
            }
            pendingHosts.poll();
            w.described = false;
            w.asking = false;
            active.put(host, w);
            if (!agents.containsKey(host)) {
                timers.startSingleTimer("missing-" + host, new AgentMissing(host), settings.askTimeout());
            }
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
            String host = e.getKey();
            ActorRef<HostAgent.Command> before = agents.get(host);
            agents.put(host, e.getValue());
            if (e.getValue().equals(before)) {
                continue;
            }
            HostWork w = active.get(host);
            if (w != null) {
                LOG.info("agent of host {} registered: {}", host, e.getValue().path());
                timers.cancel("missing-" + host);
                if (w.described) {
                    w.out.forEach((vm, id) -> send(host, vm, id)); // a restarted agent: same ids again
                } else {
                    w.asking = false;
                    describe(host, w);
                }
            } else if (lost.containsKey(host) && givenUp.contains(host)) {
                // given up: only its unknown steps are settled (sent again with their ids); its other VMs wait for a later plan
                LOG.info("agent of given-up host {} is back ({}); reconciling its {} unknown step(s), no new step", host,
                        e.getValue().path(), lost.get(host).out.size());
                lost.get(host).out.forEach((vm, id) -> send(host, vm, id));
            } else if (lost.containsKey(host)) {
                // back within the limit: first in line; its unknown steps are sent again with their ids (the agent
                // answers each from its ledger or reconciles it from the VMMs), then its other VMs continue
                LOG.info("agent of lost host {} is back ({}); reconciling its {} unknown step(s)", host, e.getValue().path(),
                        lost.get(host).out.size());
                timers.cancel("down-" + host);
                coordinator.tell(new UpgradeCoordinator.HostBack(host));
                pendingHosts.remove(host);
                pendingHosts.addFirst(host);
            }
        }
        for (String host : List.copyOf(agents.keySet())) {
            if (!now.containsKey(host)) {
                agents.remove(host);
                if (active.containsKey(host)) {
                    hostLost(host, "its agent left the listing (unreachable or downed)");
                }
            }
        }
        admit();
        return Behaviors.same();
    }

    /** The host's agent is gone: its open steps are unknown, its slot goes to another host, the down limit runs. */
    private void hostLost(String host, String why) {
        HostWork w = active.remove(host);
        if (w == null) {
            return;
        }
        w.out.keySet().forEach(vm -> timers.cancel("step-" + vm));
        w.silentRepeats.clear();
        lost.put(host, w);
        LOG.warn("host {} lost: {}; {} step(s) unknown; given up after {} ms unless its agent returns", host, why,
                w.out.values().stream().filter(id -> !id.isEmpty()).count(), plan.plan().hostDownLimitMs());
        coordinator.tell(new UpgradeCoordinator.HostLost(host));
        timers.startSingleTimer("down-" + host, new HostDownLimit(host), Duration.ofMillis(plan.plan().hostDownLimitMs()));
        admit();
    }

    private Behavior<Command> onHostDownLimit(HostDownLimit m) {
        if (plan != null && lost.containsKey(m.host()) && givenUp.add(m.host())) {
            failures++;
            LOG.warn("host {} given up: its agent stayed gone for {} ms (failure {} of at most {})", m.host(),
                    plan.plan().hostDownLimitMs(), failures, plan.plan().maxFailures());
            coordinator.tell(new UpgradeCoordinator.GiveUpHost(m.host()));
            admit();
        }
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
        coordinator.tell(new UpgradeCoordinator.Inventory(c.host(), c.vms().size()));
        w.waiting.clear();
        for (String vm : c.vms()) {
            if (!finishedVms.contains(vm) && !w.out.containsKey(vm)) {
                w.waiting.add(vm);
            }
        }
        LOG.info("host {}: {} VM(s) to upgrade, {} step(s) open", c.host(), w.waiting.size(), w.out.size());
        fill(c.host(), w);
        return Behaviors.same();
    }

    /** Opens steps (journaled by the coordinator) until stepsInFlightPerHost are out; ends the host when nothing is left. */
    private void fill(String host, HostWork w) {
        List<String> next = new ArrayList<>();
        while (!stopped() && w.out.size() + next.size() < settings.stepsInFlightPerHost() && !w.waiting.isEmpty()) {
            next.add(w.waiting.poll());
        }
        if (!next.isEmpty()) {
            for (String vm : next) {
                w.out.put(vm, ""); // reserved until the coordinator granted its id
                hostOfVm.put(vm, host);
                pendingStarts.add(new UpgradeCoordinator.Start(host, vm));
            }
            flush();
        } else if (w.out.isEmpty() && (w.waiting.isEmpty() || halted() || aborted)) {
            active.remove(host);
            if (w.waiting.isEmpty()) {
                pendingDone.add(host); // journaled after the ends of its last steps (they are pending or written already)
                flush();
                LOG.info("host {} done", host);
            } else {
                LOG.warn("host {}: the plan {}; {} VM(s) not upgraded", host,
                        aborted ? "was aborted" : "halted after " + failures + " failure(s)", w.waiting.size());
            }
            admit();
        }
        // paused with nothing out: the host keeps its slot and waits for resume
    }

    /** Sends the next group of ends, starts and hosts done when no write is in flight. */
    private void flush() {
        if (writing || (pendingEnds.isEmpty() && pendingStarts.isEmpty() && pendingDone.isEmpty())) {
            return;
        }
        List<UpgradeCoordinator.Finish> ends = List.copyOf(pendingEnds);
        List<UpgradeCoordinator.Start> starts = List.copyOf(pendingStarts);
        List<String> done = List.copyOf(pendingDone);
        pendingEnds.clear();
        pendingStarts.clear();
        pendingDone.clear();
        writing = true;
        context.ask(UpgradeCoordinator.Reply.class, coordinator, settings.askTimeout(),
                r -> new UpgradeCoordinator.RecordSteps(ends, starts, done, r),
                (reply, error) -> new Recorded(ends, starts, done, reply != null ? reply
                        : new UpgradeCoordinator.Rejected("no answer to RecordSteps: " + error)));
    }

    private Behavior<Command> onRecorded(Recorded c) {
        List<UpgradeCoordinator.Reply> replies = c.reply() instanceof UpgradeCoordinator.Batch batch
                && batch.replies().size() == c.ends().size() + c.starts().size() ? batch.replies() : null;
        if (replies == null) {
            // not journaled (yet): the ends and hosts done go again in the next write (both idempotent), the starts back to
            // their hosts' queues (a start journaled after all is answered with its id when asked again)
            LOG.warn("the coordinator did not record {} end(s), {} start(s), {} host(s) done: {}", c.ends().size(), c.starts().size(),
                    c.doneHosts().size(), c.reply());
            pendingEnds.addAll(0, c.ends());
            pendingDone.addAll(0, c.doneHosts());
        } else {
            for (int i = 0; i < c.ends().size(); i++) {
                if (replies.get(i) instanceof UpgradeCoordinator.Rejected r) {
                    LOG.warn("the end of {} ({}) was not recorded: {}", c.ends().get(i).vm(), c.ends().get(i).migrationId(), r.reason());
                }
            }
        }
        Map<String, List<String>> vmsOf = new LinkedHashMap<>();
        Map<String, List<UpgradeCoordinator.Reply>> repliesOf = new HashMap<>();
        for (int i = 0; i < c.starts().size(); i++) {
            UpgradeCoordinator.Start start = c.starts().get(i);
            vmsOf.computeIfAbsent(start.host(), h -> new ArrayList<>()).add(start.vm());
            repliesOf.computeIfAbsent(start.host(), h -> new ArrayList<>())
                    .add(replies == null ? c.reply() : replies.get(c.ends().size() + i));
        }
        // still writing: the fills below queue their starts for one write, sent after every host had its grants
        vmsOf.forEach((host, vms) -> granted(host, vms, repliesOf.get(host)));
        writing = false;
        flush();
        return Behaviors.same();
    }

    /** The coordinator's replies to the starts of {@code vms} (in order): grants are sent to the agent, the rest queued again. */
    private void granted(String host, List<String> vms, List<UpgradeCoordinator.Reply> replies) {
        HostWork w = active.containsKey(host) ? active.get(host) : lost.get(host);
        if (w == null) {
            return;
        }
        for (int i = 0; i < vms.size(); i++) {
            String vm = vms.get(i);
            UpgradeCoordinator.Reply r = replies.get(i);
            if (r instanceof UpgradeCoordinator.StepGranted g) {
                w.out.put(g.vm(), g.migrationId());
                if (active.get(host) == w) {
                    send(host, g.vm(), g.migrationId());
                }
            } else if ("".equals(w.out.get(vm))) {
                // not granted (paused, aborted, halted, or no answer): back to the queue, asked again on the next fill
                if (r instanceof UpgradeCoordinator.Rejected rej) {
                    LOG.info("host {}: step of {} not started: {}", host, vm, rej.reason());
                }
                w.out.remove(vm);
                w.waiting.addFirst(vm);
            }
        }
        if (active.get(host) == w && w.described) {
            fill(host, w);
        }
    }

    private void send(String host, String vm, String id) {
        ActorRef<HostAgent.Command> agent = agents.get(host);
        if (agent == null || id.isEmpty()) {
            return; // sent when the agent (re-)registers
        }
        hostOfVm.put(vm, host);
        agent.tell(new HostAgent.PerformStep(host, vm, id, plan.epoch(), plan.plan().targetVersion(), answered));
        timers.startSingleTimer("step-" + vm, new StepTimedOut(host, vm, id), Duration.ofMillis(plan.plan().stepTimeoutMs()));
    }

    private Behavior<Command> onStepTimedOut(StepTimedOut t) {
        HostWork w = active.get(t.host());
        if (w == null || !t.migrationId().equals(w.out.get(t.vm()))) {
            return Behaviors.same();
        }
        int repeats = w.silentRepeats.merge(t.vm(), 1, Integer::sum);
        if (repeats > SILENT_RETRIES) {
            hostLost(t.host(), "step " + t.migrationId() + " of " + t.vm() + " unanswered after " + SILENT_RETRIES + " repeats of "
                    + plan.plan().stepTimeoutMs() + " ms");
        } else {
            LOG.warn("host {}: step {} of {} not answered within {} ms; sending it again with the same id ({} of {})", t.host(),
                    t.migrationId(), t.vm(), plan.plan().stepTimeoutMs(), repeats, SILENT_RETRIES);
            send(t.host(), t.vm(), t.migrationId());
        }
        return Behaviors.same();
    }

    private Behavior<Command> onAnswered(StepAnswered c) {
        HostWork w = active.containsKey(c.host()) ? active.get(c.host()) : lost.get(c.host());
        String vm = c.reply().vm();
        String id = c.reply().migrationId();
        if (c.reply() instanceof HostAgent.StepRunning) {
            if (w != null && id.equals(w.out.get(vm))) {
                w.silentRepeats.remove(vm); // alive and working on it: the step timer runs again from now
            }
            return Behaviors.same();
        }
        boolean completed;
        String detail;
        if (c.reply() instanceof HostAgent.StepDone d) {
            completed = d.completed() || d.skipped(); // a VM already on the target is neither failed nor moved
            detail = d.outcome() + (d.downtimeMs() >= 0 ? String.format(Locale.ROOT, " (downtime %.3f ms)", d.downtimeMs()) : "");
        } else {
            HostAgent.StepRefused r = (HostAgent.StepRefused) c.reply();
            completed = false;
            detail = "refused: " + r.reason();
            if (r.reason().startsWith("fenced")) {
                // a newer incarnation exists: this one must not record anything more
                LOG.warn("host {}: fenced ({}); this coordinator stops driving", c.host(), r.reason());
                plan = null;
                active.clear();
                lost.clear();
                pendingHosts.clear();
                pendingEnds.clear();
                pendingStarts.clear();
                pendingDone.clear();
                timers.cancelAll();
                return Behaviors.same();
            }
        }
        if (w == null || !id.equals(w.out.get(vm))) {
            return Behaviors.same(); // an answer to a resend already recorded
        }
        w.out.remove(vm);
        w.silentRepeats.remove(vm);
        timers.cancel("step-" + vm);
        finishedVms.add(vm);
        if (!completed) {
            failures++;
            LOG.warn("host {}: step {} of {} failed: {}", c.host(), id, vm, detail);
        }
        pendingEnds.add(new UpgradeCoordinator.Finish(vm, id, completed, detail));
        // not before the agent listed the host's VMs: an open step of a fail-over may be answered first, and an
        // undescribed host has nothing waiting, so fill would end it with its VMs not upgraded
        if (active.get(c.host()) == w && w.described) {
            fill(c.host(), w);
        }
        flush();
        return Behaviors.same();
    }
}
