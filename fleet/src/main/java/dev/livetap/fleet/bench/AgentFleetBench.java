package dev.livetap.fleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.cluster.FleetTls;
import dev.livetap.report.Percentiles;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * The fleet bench with every node a local process: this JVM founds a cluster (role
 * {@code operator}: it never runs the coordinator and never opens a journal), starts one
 * {@link BenchHost} JVM per host (a host agent over a {@link RollingHostPort}, its VMM processes in
 * a network namespace of its own, its heap fixed: {@code -Xms} = {@code -Xmx}, pre-touched), finds
 * the agents through the Receptionist and, per round, sends every VM of every host one
 * {@link HostAgent.PerformStep} at once (coordinator epoch 1, migration id {@code b<round>-<vm>}).
 * Each agent runs them inside its {@link FreezeBudget}. The upgrade coordinator is not in this loop:
 * the bench measures the agents, their budget and the VMMs, not the journal.
 *
 * <p>{@code migrations_per_s} = completed measured migrations ÷ the sum of the measured rounds'
 * windows (first step sent → last answer; the next generations start between rounds).
 * {@code fds_leaked}: TAP fds left in a retired VMM process or beyond one per VM in its successor,
 * fds the agent JVMs gained between the end of the warm-up and the end, and fds this JVM gained;
 * the JVMs' fds counted without their TCP sockets (the cluster transport's connections come and go
 * with membership: at set-up the agents of one run held 25 to 37 fds). Samples show both figures.
 */
public final class AgentFleetBench {
    /** Coordinator epoch of every step the bench sends (a fresh agent accepts any epoch ≥ 0). */
    static final long EPOCH = 1;
    /** System property: more JVM options for every agent JVM, separated by spaces. */
    public static final String AGENT_JVM_OPTIONS = "livetap.fleet.agentJvmOptions";
    /**
     * System property: more JVM options for every VMM process of a bench host, separated by spaces, after the
     * usual ones (e.g. {@code -Xlog:gc:file=/tmp/gc-%p.log}: the JVM puts its pid for {@code %p}; {@code {name}},
     * the VMM's name, repeats across hosts). The agents get it from this JVM.
     */
    public static final String VMM_JVM_OPTIONS = "livetap.fleet.vmmJvmOptions";

    /**
     * @param budgetLabel echoed in the JSON ({@code 4}, {@code auto})
     * @param threads     migrations each agent runs at once at most (its executor); the budget limits their freezes
     * @param agentHeapMb each agent JVM's fixed heap
     * @param tlsCerts    null: plain TCP; else the cluster transport uses TLS with mutual authentication, each member
     *                    with its directory below this one as {@code scripts/fleet-certs DIR bench h0 h1 …} makes them
     *                    ({@code bench} for this JVM, {@code h<i>} for host i's agent)
     */
    public record Options(int hosts, int vmsPerHost, int rounds, int warmupRounds, FreezeBudget.Settings budget,
            String budgetLabel, int threads, Duration timeout, int agentHeapMb, Path tlsCerts, FleetBench.Gate gate) {
        /** Plain TCP on loopback (no certificates). */
        public Options(int hosts, int vmsPerHost, int rounds, int warmupRounds, FreezeBudget.Settings budget,
                String budgetLabel, int threads, Duration timeout, int agentHeapMb) {
            this(hosts, vmsPerHost, rounds, warmupRounds, budget, budgetLabel, threads, timeout, agentHeapMb, null);
        }

        /** The permit taken in the driver's switch-over gate ({@link FleetBench.Gate#SWITCHOVER}). */
        public Options(int hosts, int vmsPerHost, int rounds, int warmupRounds, FreezeBudget.Settings budget,
                String budgetLabel, int threads, Duration timeout, int agentHeapMb, Path tlsCerts) {
            this(hosts, vmsPerHost, rounds, warmupRounds, budget, budgetLabel, threads, timeout, agentHeapMb, tlsCerts,
                    FleetBench.Gate.SWITCHOVER);
        }

        /** Where the agents take their freeze permit: {@code SWITCHOVER} or {@code AROUND} (the whole step). */
        public Options withGate(FleetBench.Gate value) {
            return new Options(hosts, vmsPerHost, rounds, warmupRounds, budget, budgetLabel, threads, timeout, agentHeapMb,
                    tlsCerts, value);
        }

        /** {@link #tlsCerts}'s directory for the bench's own member or host {@code name}'s agent. */
        Path tlsDir(String name) {
            return tlsCerts.resolve(name);
        }

        public Options {
            if (gate == FleetBench.Gate.HOLD) {
                throw new IllegalArgumentException("--gate hold exists only in-process (an agent takes its permit before the "
                        + "switch-over or around the step)");
            }
            if (hosts < 1 || hosts > 64 || vmsPerHost < 1 || vmsPerHost > 1000 || rounds < 1 || rounds > 10_000
                    || warmupRounds < 0 || warmupRounds > 1000 || threads < 1 || threads > 1000 || agentHeapMb < 64
                    || agentHeapMb > 16_384) {
                throw new IllegalArgumentException("--hosts 1..64, --vms-per-host 1..1000, --rounds 1..10000, "
                        + "--warmup-rounds 0..1000, --drivers 1..1000 and an agent heap of 64..16384 MB are required");
            }
        }
    }

    /** One step's answer as the bench saw it. */
    private record Outcome(String host, boolean completed, double downtimeMs, String detail) {
    }

    /** A line {@code S label heap rss fds threads} of an agent's log. */
    record Sample(String label, long heapBytes, long rssKb, int fds, int threads, int networkSockets) {
        /** The fds a leak is judged by: without the cluster transport's TCP connections. */
        int ownFds() {
            return fds - networkSockets;
        }
    }

    private AgentFleetBench() {
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException, InterruptedException, TimeoutException {
        String load0 = FleetBench.loadAverage();
        long wall0 = System.nanoTime();
        long self = ProcessHandle.current().pid();
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltfa");
        List<NetworkNamespace> namespaces = new ArrayList<>();
        Map<String, ChildProcess> agents = new LinkedHashMap<>();
        List<Outcome> measured = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        Map<String, Integer> kFinal = new LinkedHashMap<>();
        Map<String, List<Integer>> kPerRound = new LinkedHashMap<>();
        long windowNs = 0;
        int failed = 0;
        int roundsRun = 0;
        int benchFds0 = -1;
        int benchFds1 = -1;
        FleetTls tls = o.tlsCerts() == null ? FleetTls.OFF : FleetTls.fromDirectory(o.tlsDir("bench"));
        try (FleetNode bench = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:h2:mem:never-opened",
                List.of(FleetNode.OPERATOR_ROLE), tls, FleetConfig.MANAGEMENT_OFF), Duration.ofSeconds(60))) {
            String seed = Cluster.get(bench.system()).selfMember().address().toString();
            for (int h = 0; h < o.hosts(); h++) {
                String host = "h" + h;
                NetworkNamespace ns = NetworkNamespace.create("fa", List.of(dir));
                namespaces.add(ns);
                Path hostDir = Files.createDirectories(dir.resolve(host));
                agents.put(host, ChildProcess.startWatched(agentCommand(o, host, seed, hostDir, ns.name()), dir, "agent-" + host,
                        ChildLaunch.Policy.DIES_WITH_PARENT, "READY ", false));
            }
            Duration setUp = Duration.ofSeconds(Math.max(180, o.hosts() * o.vmsPerHost() / 2L));
            for (Map.Entry<String, ChildProcess> a : agents.entrySet()) {
                awaitLine(a.getKey(), a.getValue(), 1, setUp);
            }
            Map<String, ActorRef<HostAgent.Command>> refs = findAgents(bench, agents.keySet().stream().toList());
            progress.accept(o.hosts() + " host agent(s) serve " + o.vmsPerHost() + " VMs each (real TAPs); load "
                    + FleetBench.loadAverage());
            benchFds0 = ProcessCensus.fdsBesideTheJvmsOwn(self) - RollingHostPort.networkSockets(self);
            for (int r = 0; r < o.warmupRounds() + o.rounds(); r++) {
                boolean warm = r < o.warmupRounds();
                for (Map.Entry<String, ChildProcess> a : agents.entrySet()) {
                    awaitLine(a.getKey(), a.getValue(), 1 + r, setUp);
                }
                List<CompletableFuture<Outcome>> steps = new ArrayList<>();
                long t0 = System.nanoTime();
                for (Map.Entry<String, ActorRef<HostAgent.Command>> a : refs.entrySet()) {
                    for (int i = 0; i < o.vmsPerHost(); i++) {
                        steps.add(step(bench, a.getKey(), a.getValue(), "vm" + i, "b" + r + "-vm" + i, o.timeout()));
                    }
                }
                List<Outcome> round = new ArrayList<>();
                for (CompletableFuture<Outcome> f : steps) {
                    round.add(f.join()); // each bounded by its ask's timeout
                }
                long t1 = System.nanoTime();
                roundsRun++;
                long done = round.stream().filter(Outcome::completed).count();
                round.stream().filter(x -> !x.completed()).limit(3).forEach(x -> failures.add(x.host() + ": " + x.detail()));
                if (!warm) {
                    measured.addAll(round);
                    windowNs += t1 - t0;
                    failed += round.size() - (int) done;
                }
                Map<String, Integer> ks = budgetLimits(bench, refs);
                ks.forEach((host, k) -> kPerRound.computeIfAbsent(host, h -> new ArrayList<>()).add(k));
                Percentiles p = Percentiles.of(round.stream().filter(Outcome::completed).map(Outcome::downtimeMs).toList());
                progress.accept(String.format(Locale.ROOT, "round %d%s: %d/%d completed in %.0f ms, downtime p50 %.3f p99 %.3f ms; "
                        + "K after it %s; load %s", r, warm ? " (warm-up)" : "", done, round.size(), (t1 - t0) / 1e6, p.p50(), p.p99(),
                        ks.values(), FleetBench.loadAverage()));
                if (done != round.size()) {
                    if (warm) {
                        throw new IOException("warm-up round " + r + ": " + done + "/" + round.size() + " completed; first: "
                                + failures);
                    }
                    break; // a VM left on its old generation keeps that process: the next round's generation never comes
                }
            }
            if (failed == 0) {
                for (Map.Entry<String, ChildProcess> a : agents.entrySet()) {
                    awaitLine(a.getKey(), a.getValue(), 1 + roundsRun, setUp); // the last retirement counted and sampled
                }
            }
            kFinal.putAll(budgetLimits(bench, refs));
            benchFds1 = ProcessCensus.fdsBesideTheJvmsOwn(self) - RollingHostPort.networkSockets(self);
        } finally {
            for (ChildProcess a : agents.values()) {
                a.terminate(Duration.ofSeconds(30));
            }
            for (NetworkNamespace ns : namespaces) {
                ns.close();
            }
        }
        try {
            return report(o, dir, agents, measured, failed, failures, kFinal, kPerRound, windowNs, benchFds0, benchFds1, wall0, load0);
        } finally {
            FleetBench.deleteTree(dir);
        }
    }

    /** Each agent's budget limit K now (its {@link HostAgent.AgentState}). */
    private static Map<String, Integer> budgetLimits(FleetNode bench, Map<String, ActorRef<HostAgent.Command>> refs)
            throws IOException, InterruptedException, TimeoutException {
        Map<String, Integer> ks = new LinkedHashMap<>();
        for (Map.Entry<String, ActorRef<HostAgent.Command>> a : refs.entrySet()) {
            try {
                ks.put(a.getKey(), AskPattern.<HostAgent.Command, HostAgent.AgentState>ask(a.getValue(), HostAgent.GetState::new,
                        Duration.ofSeconds(30), bench.system().scheduler()).toCompletableFuture().get(31, TimeUnit.SECONDS)
                        .budgetLimit());
            } catch (ExecutionException e) {
                throw new IOException("agent " + a.getKey() + " did not report its state: " + e.getCause(), e);
            }
        }
        return ks;
    }

    /** One budget of a K curve: its label ({@code 4}, {@code auto}) and settings. */
    public record Budget(String label, FreezeBudget.Settings settings) {
    }

    /**
     * One full run per budget (each with its own agents and warm-up), then {@code curve}: K →
     * throughput, downtime p50/p99/max, fds leaked; {@code runs}: every run's report; totals of
     * {@code completed}, {@code failed}, {@code fds_leaked} and {@code wall_ms}.
     */
    public static ObjectNode curve(Options base, List<Budget> budgets, Consumer<String> progress)
            throws IOException, InterruptedException, TimeoutException {
        long wall0 = System.nanoTime();
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("mode", "agents");
        out.put("hosts", base.hosts());
        out.put("vms_per_host", base.vmsPerHost());
        out.put("rounds", base.rounds());
        out.put("warmup_rounds", base.warmupRounds());
        ArrayNode curve = out.putArray("curve");
        ArrayNode runs = out.putArray("runs");
        long completed = 0;
        long failed = 0;
        long leaked = 0;
        for (Budget b : budgets) {
            progress.accept("budget " + b.label() + ":");
            ObjectNode r = run(new Options(base.hosts(), base.vmsPerHost(), base.rounds(), base.warmupRounds(), b.settings(),
                    b.label(), base.threads(), base.timeout(), base.agentHeapMb(), base.tlsCerts(), base.gate()), progress);
            runs.add(r);
            curve.addObject().put("budget", b.label()).put("migrations_per_s", r.path("migrations_per_s").asDouble())
                    .put("downtime_p50_ms", r.path("downtime_ms").path("p50").asDouble())
                    .put("downtime_p99_ms", r.path("downtime_ms").path("p99").asDouble())
                    .put("downtime_max_ms", r.path("downtime_ms").path("max").asDouble())
                    .put("max_frozen_at_once_per_host", r.path("max_frozen_at_once_per_host").asInt())
                    .put("completed", r.path("completed").asInt()).put("failed", r.path("failed").asInt())
                    .put("fds_leaked", r.path("fds_leaked").asInt()).put("load_before", r.path("load_before").asText())
                    .put("permit_not_frozen_p50_ms", r.path("permit_not_frozen_ms").path("p50").asDouble())
                    .set("k_final_per_host", r.path("budget").path("k_final_per_host").deepCopy());
            completed += r.path("completed").asLong();
            failed += r.path("failed").asLong();
            leaked += r.path("fds_leaked").asLong();
        }
        out.put("completed", completed);
        out.put("failed", failed);
        out.put("fds_leaked", leaked);
        out.put("wall_ms", (System.nanoTime() - wall0) / 1_000_000);
        return out;
    }

    /** The curve as a text table. */
    public static String curveTable(JsonNode curve) {
        StringBuilder t = new StringBuilder(String.format(Locale.ROOT, "%8s %14s %12s %12s %12s %10s %6s%n", "budget",
                "migrations/s", "p50 ms", "p99 ms", "max ms", "frozen<=", "fds"));
        for (JsonNode c : curve) {
            t.append(String.format(Locale.ROOT, "%8s %14.1f %12.3f %12.3f %12.3f %10d %6d%n", c.path("budget").asText(),
                    c.path("migrations_per_s").asDouble(), c.path("downtime_p50_ms").asDouble(),
                    c.path("downtime_p99_ms").asDouble(), c.path("downtime_max_ms").asDouble(),
                    c.path("max_frozen_at_once_per_host").asInt(), c.path("fds_leaked").asInt()));
        }
        return t.toString();
    }

    private static List<String> agentCommand(Options o, String host, String seed, Path hostDir, String netns) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xms" + o.agentHeapMb() + "m", "-Xmx" + o.agentHeapMb() + "m", "-XX:+AlwaysPreTouch"));
        String extra = System.getProperty(AGENT_JVM_OPTIONS, "").strip();
        if (!extra.isEmpty()) {
            cmd.addAll(List.of(extra.split("\\s+"))); // e.g. -XX:NativeMemoryTracking=summary to see what an agent's RSS is made of
        }
        String vmmExtra = System.getProperty(VMM_JVM_OPTIONS, "").strip();
        if (!vmmExtra.isEmpty()) {
            cmd.add("-D" + VMM_JVM_OPTIONS + "=" + vmmExtra);
        }
        String jnaTmp = System.getProperty("jna.tmpdir");
        if (jnaTmp != null) {
            cmd.add("-Djna.tmpdir=" + jnaTmp);
        }
        String logback = System.getProperty("logback.configurationFile");
        if (logback != null) {
            cmd.add("-Dlogback.configurationFile=" + logback);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), BenchHost.class.getName(), "--host", host, "--seed", seed,
                "--dir", hostDir.toString(), "--netns", netns, "--vms", String.valueOf(o.vmsPerHost()),
                "--budget-initial", String.valueOf(o.budget().initial()), "--budget-max", String.valueOf(o.budget().max()),
                "--threads", String.valueOf(o.threads()), "--timeout", String.valueOf(o.timeout().toSeconds()),
                "--gate", o.gate() == FleetBench.Gate.AROUND ? "around" : "switchover",
                "--look-ahead", o.budget().lookAhead().label()));
        if (o.tlsCerts() != null) {
            cmd.addAll(List.of("--tls-dir", o.tlsDir(host).toString()));
        }
        if (o.budget().adaptive()) {
            cmd.addAll(List.of("--downtime-limit-ms", String.valueOf(o.budget().limitMs()), "--budget-window",
                    String.valueOf(o.budget().window())));
        }
        return cmd;
    }

    /** Waits for the agent's {@code count}-th READY line, which must announce it serves or a prepared generation. */
    private static void awaitLine(String host, ChildProcess agent, int count, Duration timeout) throws IOException {
        List<String> lines;
        try {
            lines = agent.awaitMarked(count, timeout);
        } catch (TimeoutException | IOException e) {
            throw new IOException("agent " + host + ": " + e.getMessage() + "; " + agent.stderrTail(3000), e);
        }
        String last = lines.get(count - 1);
        if (last.startsWith(RollingHostPort.READY_FAILED)) {
            throw new IOException("agent " + host + ": " + last);
        }
    }

    /** Every host's agent through the Receptionist (its host is in its actor name), bounded. */
    private static Map<String, ActorRef<HostAgent.Command>> findAgents(FleetNode bench, List<String> hosts)
            throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        Map<String, ActorRef<HostAgent.Command>> found = new LinkedHashMap<>();
        while (found.size() < hosts.size()) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("the Receptionist listed " + found.keySet() + " of the hosts " + hosts + " within 60 s");
            }
            try {
                Receptionist.Listing listing = AskPattern.<Receptionist.Command, Receptionist.Listing>ask(
                        bench.system().receptionist(), r -> Receptionist.find(HostAgent.KEY, r), Duration.ofSeconds(5),
                        bench.system().scheduler()).toCompletableFuture().get(6, TimeUnit.SECONDS);
                for (ActorRef<HostAgent.Command> ref : listing.getServiceInstances(HostAgent.KEY)) {
                    String name = ref.path().name();
                    if (name.startsWith(HostAgent.ACTOR_NAME_PREFIX)) {
                        String host = name.substring(HostAgent.ACTOR_NAME_PREFIX.length());
                        if (hosts.contains(host)) {
                            found.put(host, ref);
                        }
                    }
                }
            } catch (ExecutionException e) {
                // the Receptionist did not answer in time: ask again
            }
            if (found.size() < hosts.size()) {
                Thread.sleep(100);
            }
        }
        Map<String, ActorRef<HostAgent.Command>> ordered = new LinkedHashMap<>();
        hosts.forEach(h -> ordered.put(h, found.get(h)));
        return ordered;
    }

    private static CompletableFuture<Outcome> step(FleetNode bench, String host, ActorRef<HostAgent.Command> agent, String vm,
            String id, Duration timeout) {
        // the agent answers after the migration: its wait for a permit and the migration both fit in twice the step bound
        return AskPattern.<HostAgent.Command, HostAgent.StepReply>ask(agent,
                r -> new HostAgent.PerformStep(host, vm, id, EPOCH, r), timeout.multipliedBy(2), bench.system().scheduler())
                .toCompletableFuture().handle((reply, error) -> {
                    if (reply instanceof HostAgent.StepDone d) {
                        return new Outcome(host, d.completed(), d.downtimeMs(), vm + " " + d.outcome());
                    }
                    if (reply instanceof HostAgent.StepRefused x) {
                        return new Outcome(host, false, -1, vm + " refused: " + x.reason());
                    }
                    return new Outcome(host, false, -1, vm + " no answer: " + error);
                });
    }

    private static ObjectNode report(Options o, Path dir, Map<String, ChildProcess> agents, List<Outcome> measured, int failed,
            List<String> failures, Map<String, Integer> kFinal, Map<String, List<Integer>> kPerRound, long windowNs, int benchFds0, int benchFds1, long wall0,
            String load0) throws IOException {
        List<Outcome> ok = measured.stream().filter(Outcome::completed).toList();
        Percentiles p = Percentiles.of(ok.stream().map(Outcome::downtimeMs).toList());
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("mode", "agents");
        out.put("hosts", o.hosts());
        out.put("transport", o.tlsCerts() == null ? "tcp" : "tls-tcp");
        out.put("vms_per_host", o.vmsPerHost());
        out.put("rounds", o.rounds());
        out.put("warmup_rounds", o.warmupRounds());
        out.put("warmup_migrations", o.warmupRounds() * o.hosts() * o.vmsPerHost());
        out.put("drivers_per_host", o.threads());
        out.put("gate", o.gate().name().toLowerCase(java.util.Locale.ROOT));
        out.put("look_ahead", o.budget().lookAhead().label());
        out.put("completed", ok.size());
        out.put("failed", failed);
        out.put("migrations_per_s", windowNs == 0 ? 0 : Math.round(ok.size() / (windowNs / 1e9) * 10) / 10.0);
        ObjectNode d = out.putObject("downtime_ms");
        d.put("p50", p.p50());
        d.put("p99", p.p99());
        d.put("max", p.max());
        int leakedTun = 0;
        int leakedAgents = 0;
        int maxFrozen = 0;
        List<double[]> spans = new ArrayList<>();
        ArrayNode perHost = out.putArray("per_host");
        Map<String, List<Sample>> samples = new LinkedHashMap<>();
        for (String host : agents.keySet()) {
            HostLog log = HostLog.read(dir.resolve(host).resolve(RollingHostPort.LOG), o.warmupRounds(), o.vmsPerHost());
            leakedTun += log.leakedTun();
            spans.addAll(log.spans());
            maxFrozen = Math.max(maxFrozen, FleetBench.maxOverlap(log.windows()));
            List<Sample> s = log.samples();
            samples.put(host, s);
            int agentFds = 0;
            if (s.size() > o.warmupRounds() + 1) {
                // baseline: the sample after the warm-up's last retirement (or at set-up); both have two VMM children alive
                agentFds = Math.max(0, s.get(s.size() - 1).ownFds() - s.get(o.warmupRounds()).ownFds());
            }
            leakedAgents += agentFds;
            ObjectNode h = perHost.addObject();
            h.put("host", host);
            h.put("agent_pid", agents.get(host).pid());
            h.put("completed", measured.stream().filter(x -> x.host().equals(host) && x.completed()).count());
            h.put("downtime_p99_ms", Percentiles.of(ok.stream().filter(x -> x.host().equals(host)).map(Outcome::downtimeMs)
                    .toList()).p99());
            h.put("max_frozen_at_once", FleetBench.maxOverlap(log.windows()));
            h.put("k_final", kFinal.getOrDefault(host, -1));
            h.put("tap_fds_leaked", log.leakedTun());
            h.put("agent_fds_gained", agentFds);
        }
        out.put("max_frozen_at_once_per_host", maxFrozen);
        // per measured migration, from the agents' logs: the driver's whole run, the freeze permit's span, and each beside
        // the freeze (gate switchover: the run includes the wait at the gate; the permit excludes the QMP set-up)
        putPercentiles(out, "driver_run_ms", spans.stream().map(x -> x[1]).toList());
        putPercentiles(out, "driver_run_not_frozen_ms", spans.stream().map(x -> x[1] - x[0]).toList());
        putPercentiles(out, "permit_held_ms", spans.stream().filter(x -> x[2] >= 0).map(x -> x[2]).toList());
        putPercentiles(out, "permit_not_frozen_ms", spans.stream().filter(x -> x[2] >= 0).map(x -> x[2] - x[0]).toList());
        int leakedBench = benchFds0 < 0 || benchFds1 < 0 ? 0 : Math.max(0, benchFds1 - benchFds0);
        out.put("fds_leaked", leakedTun + leakedAgents + leakedBench);
        ObjectNode l = out.putObject("fds_leaked_by");
        l.put("tap_fds_in_retired_or_beyond_one_per_vm", leakedTun);
        l.put("agent_jvms", leakedAgents);
        l.put("bench_jvm", leakedBench);
        out.put("window_ms", windowNs / 1_000_000);
        out.put("wall_ms", (System.nanoTime() - wall0) / 1_000_000);
        ObjectNode b = out.putObject("budget");
        b.put("asked", o.budgetLabel());
        b.put("k", o.budget().adaptive() ? -1 : o.budget().initial());
        b.put("adaptive", o.budget().adaptive());
        b.put("k_initial", o.budget().initial());
        b.put("k_max", o.budget().max());
        if (o.budget().adaptive()) {
            b.put("downtime_limit_ms", o.budget().limitMs());
        }
        ArrayNode kf = b.putArray("k_final_per_host");
        kFinal.values().forEach(kf::add);
        if (o.budget().adaptive()) {
            b.put("window", o.budget().window());
        }
        ObjectNode kr = b.putObject("k_per_round_per_host"); // after each round, warm-up rounds included
        kPerRound.forEach((host, ks) -> {
            ArrayNode a = kr.putArray(host);
            ks.forEach(a::add);
        });
        out.put("agent_heap_mb", o.agentHeapMb());
        out.put("real_tap", true);
        out.put("load_before", load0);
        out.put("load_after", FleetBench.loadAverage());
        ArrayNode sampleRows = out.putArray("agent_samples");
        samples.forEach((host, list) -> {
            for (int i = 0; i < list.size(); i++) {
                Sample s = list.get(i);
                sampleRows.addObject().put("host", host).put("after_migrations", (long) i * o.vmsPerHost())
                        .put("warm_up", i < o.warmupRounds()).put("heap_used_after_gc_mb", Math.round(s.heapBytes() / 1e4) / 100.0)
                        .put("rss_mb", Math.round(s.rssKb() / 10.24) / 100.0).put("fds", s.fds()).put("fds_network_sockets", s.networkSockets())
                        .put("threads", s.threads());
            }
        });
        if (!failures.isEmpty()) {
            ArrayNode f = out.putArray("first_failures");
            failures.stream().limit(3).forEach(f::add);
        }
        return out;
    }

    private static void putPercentiles(ObjectNode out, String name, List<Double> values) {
        Percentiles p = Percentiles.of(values);
        ObjectNode o = out.putObject(name);
        o.put("p50", values.isEmpty() ? -1 : p.p50());
        o.put("p99", values.isEmpty() ? -1 : p.p99());
    }

    /**
     * What one agent's {@link RollingHostPort#LOG} says about the measured rounds; {@code spans}: per completed
     * migration {downtime ms, driver run ms, permit held ms (-1: not logged)}.
     */
    record HostLog(List<long[]> windows, int leakedTun, List<Sample> samples, List<double[]> spans) {
        static HostLog read(Path file, int warmupRounds, int vms) throws IOException {
            List<long[]> windows = new ArrayList<>();
            List<double[]> spans = new ArrayList<>();
            List<Sample> samples = new ArrayList<>();
            int leaked = 0;
            if (!Files.exists(file)) {
                return new HostLog(windows, 0, samples, spans);
            }
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] f = line.split(" ");
                switch (f[0]) {
                    case "M" -> {
                        int round = Integer.parseInt(f[2].substring(1, f[2].indexOf('-')));
                        if ("completed".equals(f[3]) && round >= warmupRounds) {
                            windows.add(new long[] {Long.parseLong(f[5]), Long.parseLong(f[6])});
                            spans.add(new double[] {Double.parseDouble(f[4]), Double.parseDouble(f[7]),
                                    f.length > 8 ? Double.parseDouble(f[8]) : -1});
                        }
                    }
                    case "G" -> leaked += Math.max(0, Integer.parseInt(f[2])) + Math.max(0, Integer.parseInt(f[3]) - vms);
                    case "S" -> samples.add(new Sample(f[1], Long.parseLong(f[2]), Long.parseLong(f[3]), Integer.parseInt(f[4]),
                            Integer.parseInt(f[5]), f.length > 6 ? Integer.parseInt(f[6]) : 0));
                    default -> {
                        // E lines: reported through the agent's READY FAILED line
                    }
                }
            }
            return new HostLog(windows, leaked, samples, spans);
        }
    }
}
