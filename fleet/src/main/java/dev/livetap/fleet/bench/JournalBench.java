package dev.livetap.fleet.bench;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.PlanDriver;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Reply;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.journal.JournalDatabase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * Issue 18's goal B: how many VM steps per second the upgrade coordinator journals, with stub agents
 * (a step = {@code StepStarted} + {@code StepClosed}, two journaled events). Three ways, each on a
 * fresh coordinator over an empty journal of its own:
 * <ul>
 *   <li>{@code plan}: a real plan through the coordinator's {@code PlanDriver}, every host a stub
 *       agent that answers each step at once (the path a fleet upgrade takes: the driver's group
 *       commit journals the ends and grants that became due during one write in the next one);</li>
 *   <li>{@code asks}: stub agents asking {@code StartStep}/{@code FinishStep} directly, a fixed number
 *       of asks in flight;</li>
 *   <li>{@code batched}: {@code StartSteps}/{@code FinishSteps} of {@code batch} VMs each.</li>
 * </ul>
 */
public final class JournalBench {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    /**
     * @param hosts      hosts of the plan (each a stub agent), and maxParallelHosts
     * @param vmsPerHost VMs of each host: steps = hosts × vmsPerHost
     * @param inFlight   asks in flight in {@code asks}
     * @param batch      VMs per batch in {@code batched}
     * @param stepsPerHost the driver's steps in flight per host in {@code plan} (its default: 4)
     */
    public record Settings(int hosts, int vmsPerHost, int inFlight, int batch, int stepsPerHost) {
        public Settings {
            if (hosts < 1 || vmsPerHost < 1 || inFlight < 1 || batch < 1 || stepsPerHost < 1) {
                throw new IllegalArgumentException("hosts, vms per host, in flight, batch and steps per host must be at least 1");
            }
        }

        public Settings(int hosts, int vmsPerHost, int inFlight, int batch) {
            this(hosts, vmsPerHost, inFlight, batch, PlanDriver.Settings.DEFAULT.stepsInFlightPerHost());
        }

        public int steps() {
            return hosts * vmsPerHost;
        }
    }

    /**
     * One way's result: steps recorded and the rate; for {@code plan}, the coordinator's group commits
     * ({@code writes} journal writes of the driver's steps holding {@code events} events; 0 for the other ways).
     */
    public record Result(String way, int steps, double seconds, double stepsPerS, long writes, long events) {
        public Result(String way, int steps, double seconds, double stepsPerS) {
            this(way, steps, seconds, stepsPerS, 0, 0);
        }
    }

    private JournalBench() {
    }

    /**
     * Runs the three ways, each on its own journal made by {@code journalFor} (given the way's name;
     * it must be empty), and returns their results in order.
     */
    public static List<Result> run(Settings settings, JournalFor journalFor) throws Exception {
        return run(settings, WAYS, journalFor);
    }

    /** The ways, in the order {@link #run(Settings, JournalFor)} runs them. */
    public static final List<String> WAYS = List.of("plan", "asks", "batched");

    /** Runs the named ways (of {@link #WAYS}, in the order given), each on its own journal. */
    public static List<Result> run(Settings settings, List<String> ways, JournalFor journalFor) throws Exception {
        for (String way : ways) {
            if (!WAYS.contains(way)) {
                throw new IllegalArgumentException("no way " + way + " (ways: " + String.join(", ", WAYS) + ")");
            }
        }
        List<Result> results = new ArrayList<>();
        for (String way : ways) {
            JournalDatabase journal = journalFor.journal(way);
            results.add(switch (way) {
                case "plan" -> plan(settings, journal);
                case "asks" -> asks(settings, journal);
                default -> batched(settings, journal);
            });
        }
        return results;
    }

    /** A fresh, empty journal for a way. */
    @FunctionalInterface
    public interface JournalFor {
        JournalDatabase journal(String way) throws IOException;
    }

    private static FleetNode node(JournalDatabase journal) throws TimeoutException {
        return node(journal, PlanDriver.Settings.DEFAULT);
    }

    private static FleetNode node(JournalDatabase journal, PlanDriver.Settings driver)
            throws TimeoutException {
        return FleetNode.start(journal.applyTo(new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:h2:mem:unused",
                List.of(FleetNode.COORDINATOR_ROLE, FleetNode.AGENT_ROLE))), null, driver, Duration.ofSeconds(60));
    }

    public static Result plan(Settings settings, JournalDatabase journal) throws Exception {
        PlanDriver.Settings defaults = PlanDriver.Settings.DEFAULT;
        try (FleetNode node = node(journal, new PlanDriver.Settings(settings.stepsPerHost(),
                defaults.askTimeout(), defaults.retryAfter()))) {
            List<String> hosts = new ArrayList<>();
            for (int h = 0; h < settings.hosts(); h++) {
                String host = "bench-h" + h;
                hosts.add(host);
                List<String> vms = new ArrayList<>();
                for (int i = 0; i < settings.vmsPerHost(); i++) {
                    vms.add(host + "-vm" + i);
                }
                node.system().systemActorOf(stubAgent(host, vms), HostAgent.ACTOR_NAME_PREFIX + host, Props.empty());
            }
            // the first GetStatus waits for the coordinator's first epoch, outside the measured window
            ask(node, UpgradeCoordinator.GetStatus::new);
            long t0 = System.nanoTime();
            Reply accepted = ask(node, r -> new UpgradeCoordinator.SubmitPlan(new Plan("0.2.0", hosts, hosts.size(), 0, 10.0), r));
            if (!(accepted instanceof UpgradeCoordinator.PlanAccepted)) {
                throw new IllegalStateException("the bench plan was refused: " + accepted);
            }
            UpgradeCoordinator.Status s;
            // a slow journal (tens of steps/s before the group commit) needs longer than one ask's bound for a large plan
            Duration limit = TIMEOUT.compareTo(Duration.ofMillis(50L * settings.steps())) > 0 ? TIMEOUT
                    : Duration.ofMillis(50L * settings.steps());
            long deadline = System.nanoTime() + limit.toNanos();
            do {
                Thread.sleep(20);
                s = (UpgradeCoordinator.Status) ask(node, UpgradeCoordinator.GetStatus::new);
            } while (!s.complete() && System.nanoTime() < deadline);
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (!s.complete() || s.halted() || s.finished().size() != settings.steps()) {
                throw new IllegalStateException("the bench plan did not complete every step within " + limit.toSeconds()
                        + " s: complete " + s.complete() + ", halted " + s.halted() + ", " + s.finished().size() + " of "
                        + settings.steps() + " finished");
            }
            UpgradeCoordinator.GroupCommits commits = (UpgradeCoordinator.GroupCommits) ask(node,
                    UpgradeCoordinator.GetGroupCommits::new);
            return new Result("plan", settings.steps(), seconds, settings.steps() / seconds, commits.writes(), commits.events());
        }
    }

    /** Registers as {@code host}'s agent; lists {@code vms} and answers every step {@code completed} at once. */
    private static Behavior<HostAgent.Command> stubAgent(String host, List<String> vms) {
        return StubAgent.create(host, vms, p -> StubAgent.complete(p, 0.0));
    }

    public static Result asks(Settings settings, JournalDatabase journal) throws Exception {
        try (FleetNode node = node(journal)) {
            submit(node, settings.steps());
            long t0 = System.nanoTime();
            List<CompletableFuture<Reply>> window = new ArrayList<>();
            for (int i = 0; i < settings.steps(); i++) {
                String vm = "vm-" + i;
                window.add(askAsync(node, r -> new UpgradeCoordinator.StartStep("host-a", vm, r)).thenCompose(granted -> {
                    if (!(granted instanceof UpgradeCoordinator.StepGranted g)) {
                        throw new IllegalStateException("StartStep of " + vm + " refused: " + granted);
                    }
                    return askAsync(node, r -> new UpgradeCoordinator.FinishStep(vm, g.migrationId(), true, "stub", r));
                }));
                if (window.size() == settings.inFlight() || i == settings.steps() - 1) {
                    for (CompletableFuture<Reply> f : window) {
                        Reply r = f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                        if (!(r instanceof UpgradeCoordinator.StepFinished)) {
                            throw new IllegalStateException("FinishStep refused: " + r);
                        }
                    }
                    window.clear();
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            checkAllFinished(node, settings.steps());
            return new Result("asks", settings.steps(), seconds, settings.steps() / seconds);
        }
    }

    public static Result batched(Settings settings, JournalDatabase journal) throws Exception {
        try (FleetNode node = node(journal)) {
            submit(node, settings.steps());
            long t0 = System.nanoTime();
            for (int first = 0; first < settings.steps(); first += settings.batch()) {
                List<String> vms = new ArrayList<>();
                for (int i = first; i < Math.min(first + settings.batch(), settings.steps()); i++) {
                    vms.add("vm-" + i);
                }
                Reply granted = ask(node, r -> new UpgradeCoordinator.StartSteps("host-a", vms, r));
                List<UpgradeCoordinator.Finish> ends = new ArrayList<>();
                for (Reply g : ((UpgradeCoordinator.Batch) granted).replies()) {
                    if (!(g instanceof UpgradeCoordinator.StepGranted s)) {
                        throw new IllegalStateException("StartSteps refused a VM: " + g);
                    }
                    ends.add(new UpgradeCoordinator.Finish(s.vm(), s.migrationId(), true, "stub"));
                }
                ask(node, r -> new UpgradeCoordinator.FinishSteps(ends, r));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            checkAllFinished(node, settings.steps());
            return new Result("batched", settings.steps(), seconds, settings.steps() / seconds);
        }
    }

    private static void submit(FleetNode node, int steps) throws Exception {
        // host-a has no agent (the bench asks for its steps itself): the driver reports it lost after its ask timeout,
        // and the hour's host-down limit keeps it from being given up (which would refuse its steps) during the bench
        Reply r = ask(node, c -> new UpgradeCoordinator.SubmitPlan(new Plan("0.2.0", List.of("host-a"), 1, steps, 10.0, 0,
                3_600_000), c));
        if (!(r instanceof UpgradeCoordinator.PlanAccepted)) {
            throw new IllegalStateException("the bench plan was refused: " + r);
        }
    }

    private static void checkAllFinished(FleetNode node, int steps) throws Exception {
        UpgradeCoordinator.Status s = (UpgradeCoordinator.Status) ask(node, UpgradeCoordinator.GetStatus::new);
        if (s.finished().size() != steps || !s.open().isEmpty()) {
            throw new IllegalStateException("the coordinator recorded " + s.finished().size() + " of " + steps
                    + " steps, " + s.open().size() + " left open");
        }
    }

    private static CompletableFuture<Reply> askAsync(FleetNode node, Function<ActorRef<Reply>, UpgradeCoordinator.Command> m) {
        return AskPattern.<UpgradeCoordinator.Command, Reply>ask(node.coordinator(), m::apply, TIMEOUT, node.system().scheduler())
                .toCompletableFuture();
    }

    private static Reply ask(FleetNode node, Function<ActorRef<Reply>, UpgradeCoordinator.Command> m) throws Exception {
        return askAsync(node, m).get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    /** The result lines as JSON members (way → steps, seconds, steps_per_s). */
    public static Map<String, Object> toJson(String journal, Settings settings, List<Result> results) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("journal", journal);
        out.put("steps", settings.steps());
        out.put("hosts", settings.hosts());
        out.put("in_flight", settings.inFlight());
        out.put("batch", settings.batch());
        out.put("steps_in_flight_per_host", settings.stepsPerHost());
        for (Result r : results) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("steps", r.steps());
            one.put("seconds", Math.round(r.seconds() * 1000) / 1000.0);
            one.put("steps_per_s", Math.round(r.stepsPerS()));
            if (r.writes() > 0) {
                one.put("journal_writes", r.writes());
                one.put("events_per_write", Math.round(10.0 * r.events() / r.writes()) / 10.0);
            }
            out.put(r.way(), one);
        }
        out.put("goal_b_steps_per_s", 1000);
        out.put("load", loadAverage());
        return out;
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
