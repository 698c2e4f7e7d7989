package dev.livetap.fleet.faults;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepClosed;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepStarted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.journal.CoordinatorJournal;
import dev.livetap.fleet.journal.JournalCredentials;
import dev.livetap.fleet.journal.ThrowawayPostgres;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fault matrix: per scenario a fresh {@link FaultFleet} (3 coordinator-capable nodes, 4 host agents, their
 * VMMs), a plan over every host, one fault injected mid-plan, then the checks. A scenario passes only when
 * every check holds:
 * <ul>
 * <li>the plan completes, every VM with exactly one closed step;</li>
 * <li>every VM runs on exactly one {@code livetap vmm} process (the process table), {@code running}, holding its
 * 2 TAP queue fds; no agent JVM holds a TAP fd; each VM's stand-in answers a ping through its TAP;</li>
 * <li>the journal's rows (read with JDBC, decoded with the fleet's serializers): sequence numbers without a
 * gap, epochs rising, no VM started while its step was open, every VM started and closed once;</li>
 * <li>the journal against the VMMs: a completed step ⇔ the VM runs on generation 1 and that VMM's own
 * {@code query-migrate} says {@code completed}; a failed step ⇔ generation 0 and not {@code completed};</li>
 * <li>the fence in the agents' ledgers: no step started under an epoch older than one the agent had already
 * recorded, and every step an agent started is one the journal granted for that VM;</li>
 * <li>the scenario's own (a new epoch after a fail-over, the stopped node downed and ended, …);</li>
 * <li>this JVM holds no more fds after the scenario's clean-up than before its set-up.</li>
 * </ul>
 */
public final class FaultMatrix {
    private static final Logger LOG = LoggerFactory.getLogger(FaultMatrix.class);
    private static final Duration MID_PLAN = Duration.ofSeconds(120);

    /**
     * @param livetap     the command that runs {@code livetap} (java, options, class path, main class)
     * @param hosts       host agents (each its namespace and VMMs)
     * @param nodes       coordinator-capable node JVMs
     * @param vmsPerHost  VMs per host
     * @param timeout     bound of every start and of the plan after the fault
     * @param tlsCerts    null: plain TCP; else every member talks mutual TLS, each with its directory below it as
     *                    {@code scripts/fleet-certs DIR n1 … h1 … operator} makes them ({@link #memberNames()})
     */
    public record Settings(List<String> livetap, int hosts, int nodes, int vmsPerHost, Duration timeout, Path tlsCerts) {
        /** Plain TCP. */
        public Settings(List<String> livetap, int hosts, int nodes, int vmsPerHost, Duration timeout) {
            this(livetap, hosts, nodes, vmsPerHost, timeout, null);
        }

        public Settings {
            livetap = List.copyOf(livetap);
            if (hosts < 1 || hosts > 16 || nodes < 3 || nodes > 5 || vmsPerHost < 1 || vmsPerHost > 16) {
                throw new IllegalArgumentException("hosts 1-16, nodes 3-5 and VMs per host 1-16 are required");
            }
        }

        int totalVms() {
            return hosts * vmsPerHost;
        }

        /** The members that need a certificate: the nodes ({@code n1}…), the agents ({@code h1}…) and {@code operator}. */
        public List<String> memberNames() {
            List<String> names = new ArrayList<>();
            for (int n = 1; n <= nodes; n++) {
                names.add("n" + n);
            }
            for (int h = 1; h <= hosts; h++) {
                names.add("h" + h);
            }
            names.add("operator");
            return names;
        }

        /** {@code tcp} or {@code tls-tcp}. */
        public String transport() {
            return tlsCerts == null ? "tcp" : "tls-tcp";
        }
    }

    /** One check of a scenario. */
    public record Check(String name, boolean ok, String detail) {
    }

    /** A scenario's result. */
    public record Outcome(FaultScenario scenario, List<Check> checks, Map<String, Object> facts, long wallMs, String loadBefore,
            String loadAfter) {
        public boolean ok() {
            return !checks.isEmpty() && checks.stream().allMatch(Check::ok);
        }
    }

    private FaultMatrix() {
    }

    /** Why the matrix cannot run here (root, /dev/net/tun, PostgreSQL), if it cannot. */
    public static Optional<String> unavailableReason() {
        Optional<String> ns = NetworkNamespace.unavailabilityCause();
        return ns.isPresent() ? ns : ThrowawayPostgres.unavailableReason(true);
    }

    /** Runs {@code scenarios} in order, each on a fresh fleet, on one throw-away PostgreSQL server (a database each). */
    public static List<Outcome> run(List<FaultScenario> scenarios, Settings settings, Consumer<String> progress)
            throws IOException, InterruptedException {
        List<Outcome> outcomes = new ArrayList<>();
        // the process's native reactor (an epoll fd, an eventfd, libffi's closure file) lives as long as the JVM: made
        // before the first baseline, so that the first scenario's QMP connections do not count it as a leak
        JnaOs.instance().reactor();
        try (ThrowawayPostgres pg = ThrowawayPostgres.start()) {
            progress.accept("PostgreSQL " + pg + " started; load " + loadAverage());
            int n = 0;
            for (FaultScenario s : scenarios) {
                progress.accept(s.label() + ": " + s.description());
                Outcome o = runOne(s, settings, pg, "faults_" + s.name().toLowerCase(Locale.ROOT) + "_" + (n++), progress);
                progress.accept(s.label() + ": " + (o.ok() ? "PASS" : "FAIL") + " in " + o.wallMs() / 1000 + " s"
                        + (o.ok() ? "" : " " + o.checks().stream().filter(c -> !c.ok()).map(c -> c.name() + ": " + c.detail()).toList()));
                outcomes.add(o);
            }
        }
        return outcomes;
    }

    private static Outcome runOne(FaultScenario scenario, Settings settings, ThrowawayPostgres pg, String database,
            Consumer<String> progress) throws InterruptedException {
        long self = ProcessHandle.current().pid();
        String load0 = loadAverage();
        long t0 = System.nanoTime();
        List<String> fds0 = runnerFds(self);
        List<Check> checks = new ArrayList<>();
        Map<String, Object> facts = new LinkedHashMap<>();
        FaultFleet fleet = null;
        try {
            fleet = FaultFleet.start(settings, pg, database, progress);
            FaultFleet started = fleet;
            List<String> before = fleet.allVms().stream().filter(vm -> !started.ping(vm)).toList();
            checks.add(new Check("ping before the plan", before.isEmpty(), before.isEmpty() ? "every VM answered"
                    : "no answer from " + before));
            fleet.submit(new Plan("current", List.copyOf(fleet.hosts().keySet()), settings.hosts(), settings.totalVms(), 300.0));
            long planned = System.nanoTime();
            inject(scenario, fleet, pg, checks, facts, progress);
            Optional<UpgradeCoordinator.Status> end = fleet.awaitStatus(UpgradeCoordinator.Status::complete, settings.timeout());
            facts.put("plan_ms_after_submit", (System.nanoTime() - planned) / 1_000_000);
            checkAfter(fleet, end, pg.credentials(), checks, facts);
        } catch (IOException | TimeoutException | RuntimeException e) {
            LOG.warn("fault scenario {} did not run to its end", scenario.label(), e);
            checks.add(new Check("ran to the end", false, e.toString()));
        } finally {
            if (fleet != null) {
                if (!checks.stream().allMatch(Check::ok)) {
                    fleet.keepDirectory();
                    facts.put("logs_kept_in", fleet.dir().toString());
                }
                fleet.close();
            }
        }
        // the generation-0 VMMs' stdout pipes and logs are copied by this JVM's reader threads, which close them just after
        // the VMMs ended: wait (bounded) for that, do not count a reader that is still closing as a leak
        long fdDeadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        List<String> fds1 = runnerFds(self);
        while (fds1.size() > fds0.size() && System.nanoTime() < fdDeadline) {
            Thread.sleep(100);
            fds1 = runnerFds(self);
        }
        List<String> gained = new ArrayList<>(fds1);
        fds0.forEach(gained::remove);
        checks.add(new Check("no fd leaked by the runner", fds1.size() <= fds0.size(), "fds beside the JVM's own: " + fds0.size()
                + " before, " + fds1.size() + " after the clean-up" + (gained.isEmpty() ? "" : "; gained " + gained)));
        return new Outcome(scenario, checks, facts, (System.nanoTime() - t0) / 1_000_000, load0, loadAverage());
    }

    /**
     * This JVM's fds beside the JVM's own files and its random devices (the JDK's SecureRandom opens /dev/random
     * and /dev/urandom once, lazily, the first time something in the JVM needs one, and keeps them open).
     */
    private static List<String> runnerFds(long self) {
        return ProcessCensus.targetsBesideTheJvmsOwn(self).orElse(List.of()).stream()
                .filter(t -> !t.equals("/dev/random") && !t.equals("/dev/urandom")).toList();
    }

    /** Waits for the mid-plan moment the scenario needs and injects its fault. */
    private static void inject(FaultScenario scenario, FaultFleet fleet, ThrowawayPostgres pg, List<Check> checks,
            Map<String, Object> facts, Consumer<String> progress) throws IOException, InterruptedException {
        if (scenario == FaultScenario.VMM_CRASH_SWITCHOVER) {
            // a target must be seen from its start, so the watch begins with the plan (by the usual mid-plan moment
            // every VM's target may already have started)
            crashTargetInSwitchover(fleet, checks, facts, progress);
            return;
        }
        UpgradeCoordinator.Status mid = fleet.awaitStatus(s -> !s.finished().isEmpty() && !s.open().isEmpty(), MID_PLAN)
                .orElseThrow(() -> new IOException("the coordinator never answered"));
        if (mid.finished().isEmpty() || mid.open().isEmpty() || mid.complete()) {
            throw new IOException("no mid-plan moment (a step finished, another open): " + mid);
        }
        long epoch0 = mid.epoch();
        facts.put("epoch_before", epoch0);
        facts.put("finished_at_fault", mid.finished().size());
        facts.put("open_at_fault", mid.open().size());
        switch (scenario) {
            case SINGLETON_KILL -> {
                FaultFleet.Node victim = killSingleton(fleet, mid, facts, progress);
                checkFailOver(fleet, victim, epoch0, checks, facts);
            }
            case SINGLETON_STOP -> {
                FaultFleet.Node victim = fleet.singletonNode().orElseThrow(() -> new IOException("no singleton node seen"));
                facts.put("stopped_node", victim.name());
                FaultFleet.signal(victim.process().pid(), "STOP");
                long stopped = System.nanoTime();
                progress.accept("  SIGSTOPped " + victim.name() + " (the singleton's node) with " + mid.open().size()
                        + " step(s) open");
                long deadline = System.nanoTime() + Duration.ofSeconds(150).toNanos();
                while (fleet.isMember(victim) && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                }
                boolean removed = !fleet.isMember(victim);
                long removedMs = (System.nanoTime() - stopped) / 1_000_000;
                facts.put("removed_ms_after_stop", removedMs);
                checks.add(new Check("the stopped node downed and removed", removed, removed ? removedMs + " ms after SIGSTOP"
                        : "still a member 150 s after SIGSTOP"));
                Optional<UpgradeCoordinator.Status> next = fleet.awaitStatus(s -> s.epoch() > epoch0, Duration.ofSeconds(60));
                checks.add(new Check("a new coordinator epoch while it is stopped", next.map(s -> s.epoch() > epoch0).orElse(false),
                        "epoch " + epoch0 + " -> " + next.map(UpgradeCoordinator.Status::epoch).orElse(-1L)));
                staleSteps(fleet, epoch0, checks, facts);
                FaultFleet.signal(victim.process().pid(), "CONT");
                progress.accept("  SIGCONT " + victim.name() + " after " + (System.nanoTime() - stopped) / 1_000_000 + " ms");
                OptionalInt exit = victim.process().awaitExit(Duration.ofSeconds(90));
                facts.put("stopped_node_exit", exit.isPresent() ? exit.getAsInt() : null);
                checks.add(new Check("the resumed node learns it is out and ends with exit 1", exit.isPresent() && exit.getAsInt() == 1,
                        exit.isPresent() ? "exit " + exit.getAsInt() : "still running 90 s after SIGCONT"));
            }
            case AGENT_KILL -> {
                String host = awaitSwitchingOverHost(fleet, facts);
                killAndRestartAgent(fleet, host, checks, progress);
            }
            case VMM_CRASH -> {
                // a target process seen from its start; then only its QMP socket is watched, so the kill comes within
                // milliseconds of the target's READY, before the agent's driver can reach the switch-over (the TAP fds
                // still in the source)
                Target t = awaitTargetProcess(fleet).orElseThrow(() -> new IOException("no migration target process appeared"));
                FaultFleet.Host h = fleet.hostOf(t.vm());
                Path socket = FaultFleet.qmpOf(h.vmmDir(), t.vm(), t.generation());
                long until = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                while (!Files.exists(socket) && ProcessHandle.of(t.pid()).map(ProcessHandle::isAlive).orElse(false)
                        && System.nanoTime() < until) {
                    Thread.sleep(2);
                }
                int tunAtKill = ProcessCensus.fdKinds(t.pid()).tun();
                ProcessHandle.of(t.pid()).ifPresent(ProcessHandle::destroyForcibly);
                facts.put("crashed_vm", t.vm());
                facts.put("crashed_target_tap_fds_at_kill", tunAtKill);
                progress.accept("  SIGKILLed " + t.vm() + "'s migration target VMM (pid " + t.pid() + ", its QMP socket "
                        + (Files.exists(socket) ? "present" : "absent") + ", " + tunAtKill + " TAP fds held)");
                checks.add(new Check("the crash came before the switch-over (the target held no TAP fd)", tunAtKill <= 0,
                        tunAtKill + " TAP fds in the target at the kill"));
                Optional<UpgradeCoordinator.Status> closed = fleet.awaitStatus(s -> s.finished().containsKey(t.vm()),
                        Duration.ofSeconds(120));
                UpgradeCoordinator.StepRecord rec = closed.map(s -> s.finished().get(t.vm())).orElse(null);
                facts.put("crashed_step", rec == null ? null : rec.detail());
                checks.add(new Check("the crashed migration's step failed, the VM stays on its source", rec != null && !rec.completed(),
                        String.valueOf(rec)));
                try {
                    facts.put("crashed_vm_source_query_migrate", FaultFleet.qmp(FaultFleet.qmpOf(h.vmmDir(), t.vm(), 0),
                            "query-migrate").toString());
                } catch (IOException e) {
                    facts.put("crashed_vm_source_query_migrate", e.getMessage());
                }
            }
            case DB_RESTART -> {
                pg.stop();
                progress.accept("  PostgreSQL stopped with " + mid.open().size() + " step(s) open");
                Thread.sleep(2000);
                pg.startServer();
                progress.accept("  PostgreSQL started again");
            }
            case VMM_CRASH_SWITCHOVER -> throw new IllegalStateException("injected from the plan's start, above");
            case AGENT_SINGLETON_KILL -> {
                String host = awaitSwitchingOverHost(fleet, facts);
                FaultFleet.Node victim = killSingleton(fleet, mid, facts, progress);
                killAndRestartAgent(fleet, host, checks, progress);
                checkFailOver(fleet, victim, epoch0, checks, facts);
            }
            case DB_AGENT_KILL -> {
                String host = awaitSwitchingOverHost(fleet, facts);
                pg.stop();
                long stopped = System.nanoTime();
                progress.accept("  PostgreSQL stopped with " + mid.open().size() + " step(s) open");
                fleet.agents().get(host).kill();
                progress.accept("  SIGKILLed the agent of " + host + " mid-switch-over, the database down");
                long left = 2000 - (System.nanoTime() - stopped) / 1_000_000;
                if (left > 0) {
                    Thread.sleep(left);
                }
                pg.startServer();
                progress.accept("  PostgreSQL started again");
                killAndRestartAgent(fleet, host, false, checks, progress);
            }
        }
    }

    /**
     * The target crash inside the switch-over: every target caught from its start (the watch begins with the plan) gets
     * a watcher thread that hears its source's MIGRATION events on a second QMP connection. On its source's
     * {@code setup} the target is SIGSTOPped, so the source connects (queued by the kernel), stops its VM and sends its
     * sections but never gets {@code loaded}; the first whose source stays in {@code device}/{@code finish-migrate} for a
     * moment is SIGKILLed here. Any other stopped target — one that answered before the stop landed (the source
     * {@code completed}), or one held while another was taken — is let go on (SIGCONT).
     */
    private static void crashTargetInSwitchover(FaultFleet fleet, List<Check> checks, Map<String, Object> facts,
            Consumer<String> progress) throws IOException, InterruptedException {
        Map<String, String> missed = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.concurrent.CompletableFuture<Caught> caught = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.ExecutorService watchers = java.util.concurrent.Executors.newCachedThreadPool(r -> {
            Thread th = new Thread(r, "switchover-watcher");
            th.setDaemon(true);
            return th;
        });
        Map<Path, List<String>> vms = fleet.vmsByDirectory();
        Set<Long> seen = new java.util.HashSet<>();
        long deadline = System.nanoTime() + MID_PLAN.toNanos();
        Caught c = null;
        try {
            while (c == null && System.nanoTime() < deadline) {
                for (Map.Entry<String, Map<Long, Integer>> vm : FaultFleet.vmmProcesses(vms).entrySet()) {
                    Optional<Long> sourcePid = vm.getValue().entrySet().stream().filter(e -> e.getValue() == 0)
                            .map(Map.Entry::getKey).findFirst();
                    for (Map.Entry<Long, Integer> p : vm.getValue().entrySet()) {
                        if (p.getValue() > 0 && seen.add(p.getKey())) {
                            FaultFleet.Host h = fleet.hostOf(vm.getKey());
                            Target t = new Target(vm.getKey(), p.getKey(), p.getValue());
                            if (Files.exists(FaultFleet.qmpOf(h.vmmDir(), t.vm(), t.generation())) || sourcePid.isEmpty()) {
                                missed.put(t.vm(), "not seen from its start");
                                continue;
                            }
                            Path source = FaultFleet.qmpOf(h.vmmDir(), t.vm(), 0);
                            watchers.execute(() -> watchSwitchover(t, source, sourcePid.get(), caught, missed));
                        }
                    }
                }
                try {
                    c = caught.get(5, java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    // none caught yet: look for new targets
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IOException(e.getCause());
                }
            }
        } finally {
            caught.complete(null); // the other watchers end at their next look
            watchers.shutdown();
            watchers.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
        if (c == null) {
            facts.put("races_lost", Map.copyOf(missed));
            checks.add(new Check("the kill landed inside the switch-over (source stopped, stream out, no loaded)", false,
                    "no target caught in its switch-over: " + missed));
            return;
        }
        Target t = c.target();
        int sourceTun = ProcessCensus.fdKinds(c.sourcePid()).tun();
        int targetTun = ProcessCensus.fdKinds(t.pid()).tun();
        ProcessHandle.of(t.pid()).ifPresent(ProcessHandle::destroyForcibly);
        long killed = System.nanoTime();
        missed.remove(t.vm());
        facts.put("crashed_vm", t.vm());
        facts.put("races_lost_before", Map.copyOf(missed));
        facts.put("source_at_kill", c.sourceState());
        facts.put("source_tap_fds_at_kill", sourceTun);
        facts.put("target_tap_fds_at_kill", targetTun);
        progress.accept("  SIGKILLed " + t.vm() + "'s stopped migration target (pid " + t.pid() + ") inside the switch-over: "
                + "source " + c.sourceState() + ", source " + sourceTun + " / target " + targetTun + " TAP fds");
        checks.add(new Check("the kill landed inside the switch-over (source stopped, stream out, no loaded)", true,
                t.vm() + ": source " + c.sourceState() + (missed.isEmpty() ? "" : "; others: " + missed)));
        checks.add(new Check("the source still held its TAP fds at the kill", sourceTun == FaultFleet.QUEUES,
                sourceTun + " TAP fds in the source (" + targetTun + " received by the target)"));
        // the source rolls back on the closed channel and resumes by itself: bounded wait on its own answers
        Path source = c.source();
        String after = "";
        long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        boolean resumed = false;
        while (!resumed && System.nanoTime() < until) {
            try {
                String migrate = FaultFleet.qmp(source, "query-migrate").path("status").asText("none");
                String run = FaultFleet.qmp(source, "query-status").path("status").asText();
                after = "query-migrate " + migrate + ", query-status " + run;
                resumed = "failed".equals(migrate) && "running".equals(run);
            } catch (IOException e) {
                after = e.getMessage();
            }
            if (!resumed) {
                Thread.sleep(50);
            }
        }
        int tunAfter = ProcessCensus.fdKinds(c.sourcePid()).tun();
        facts.put("source_after_kill", after + ", " + tunAfter + " TAP fds, within " + (System.nanoTime() - killed) / 1_000_000 + " ms");
        checks.add(new Check("the source rolled back and resumed by itself with its own TAP queues",
                resumed && tunAfter == FaultFleet.QUEUES, after + ", " + tunAfter + " TAP fds in the source"));
        Optional<UpgradeCoordinator.Status> closed = fleet.awaitStatus(s -> s.finished().containsKey(t.vm()), Duration.ofSeconds(120));
        UpgradeCoordinator.StepRecord rec = closed.map(s -> s.finished().get(t.vm())).orElse(null);
        facts.put("crashed_step", rec == null ? null : rec.detail());
        checks.add(new Check("the crashed migration's step failed, the VM stays on its source", rec != null && !rec.completed(),
                String.valueOf(rec)));
    }

    /** A target stopped inside its switch-over: its source's QMP socket and pid, and what the source said. */
    private record Caught(Target target, Path source, long sourcePid, String sourceState) {
    }

    /**
     * One target's watcher: hears its source's events; on the source's first MIGRATION event, unless a target was
     * already caught, SIGSTOPs the target and waits until the source sits in {@code device} with run state
     * {@code finish-migrate} for 300 ms running (the stream is out, no {@code loaded} came): then completes
     * {@code caught}. Otherwise SIGCONTs the target and notes why in {@code missed}.
     */
    private static void watchSwitchover(Target t, Path source, long sourcePid, java.util.concurrent.CompletableFuture<Caught> caught,
            Map<String, String> missed) {
        boolean stopped = false;
        try (dev.livetap.engine.qmp.QmpClient events = dev.livetap.engine.qmp.QmpClient.connect(source, Duration.ofSeconds(10))) {
            events.negotiate();
            long until = System.nanoTime() + MID_PLAN.toNanos();
            while (!caught.isDone() && System.nanoTime() < until) {
                Optional<JsonNode> e = events.pollEvent(Duration.ofMillis(200));
                if (e.isPresent() && "MIGRATION".equals(e.get().path("event").asText())) {
                    if (caught.isDone()) {
                        return;
                    }
                    Signals.stop(t.pid()); // a direct kill(2): a spawned kill(1) would take milliseconds the switch-over may not leave
                    stopped = true;
                    break;
                } else if (e.isEmpty() && events.atEof()) {
                    missed.put(t.vm(), "the source closed its QMP connection");
                    return;
                }
            }
            if (!stopped) {
                return;
            }
            long steadySince = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            String seen = "";
            while (System.nanoTime() < deadline) {
                String migrate = events.execute("query-migrate", null).path("status").asText("none");
                String run = events.execute("query-status", null).path("status").asText();
                seen = "query-migrate " + migrate + ", query-status " + run;
                if ("completed".equals(migrate) || "failed".equals(migrate)) {
                    break;
                }
                if ("device".equals(migrate) && "finish-migrate".equals(run)) {
                    steadySince = steadySince == 0 ? System.nanoTime() : steadySince;
                    if (System.nanoTime() - steadySince >= 300_000_000L) {
                        if (caught.complete(new Caught(t, source, sourcePid, seen))) {
                            stopped = false; // the runner kills it
                        }
                        return;
                    }
                } else {
                    steadySince = 0;
                }
                Thread.sleep(20);
            }
            missed.put(t.vm(), "source " + seen + " (not held in the switch-over)");
        } catch (IOException | TimeoutException | RuntimeException e) {
            missed.put(t.vm(), "watching its source failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (stopped && ProcessHandle.of(t.pid()).map(ProcessHandle::isAlive).orElse(false)) {
                FaultFleet.signal(t.pid(), "CONT"); // not the one killed: its migration goes on (its source still waits for loaded)
            }
        }
    }

    /** kill(2) through libc: the signal leaves within microseconds of the event that called for it. */
    private static final class Signals {
        private static final int SIGSTOP = 19; // x86_64 and aarch64 Linux
        private static final LibC LIBC = com.sun.jna.Native.load("c", LibC.class);

        interface LibC extends com.sun.jna.Library {
            int kill(int pid, int sig);
        }

        static void stop(long pid) throws IOException {
            if (LIBC.kill((int) pid, SIGSTOP) != 0) {
                throw new IOException("kill(" + pid + ", SIGSTOP) failed: errno " + com.sun.jna.Native.getLastError());
            }
        }
    }

    /** SIGKILLs the node the singleton runs on (as the operator sees it); the victim. */
    private static FaultFleet.Node killSingleton(FaultFleet fleet, UpgradeCoordinator.Status mid, Map<String, Object> facts,
            Consumer<String> progress) throws IOException {
        FaultFleet.Node victim = fleet.singletonNode().orElseThrow(() -> new IOException("no singleton node seen"));
        facts.put("killed_node", victim.name());
        victim.process().kill();
        facts.put("node_killed_at_ns", System.nanoTime());
        progress.accept("  SIGKILLed " + victim.name() + " (the singleton's node) with " + mid.open().size() + " step(s) open");
        return victim;
    }

    /** Checks that a coordinator of a newer epoch answers (bounded) and that the singleton left {@code victim}. */
    private static void checkFailOver(FaultFleet fleet, FaultFleet.Node victim, long epoch0, List<Check> checks,
            Map<String, Object> facts) throws InterruptedException {
        long killed = (Long) facts.get("node_killed_at_ns");
        Optional<UpgradeCoordinator.Status> next = fleet.awaitStatus(s -> s.epoch() > epoch0, Duration.ofSeconds(120));
        long ms = (System.nanoTime() - killed) / 1_000_000;
        facts.remove("node_killed_at_ns");
        facts.put("new_epoch_seen_ms_after_kill", ms);
        checks.add(new Check("fail-over: a new coordinator epoch", next.map(s -> s.epoch() > epoch0).orElse(false),
                "epoch " + epoch0 + " -> " + next.map(UpgradeCoordinator.Status::epoch).orElse(-1L) + ", " + ms + " ms after the kill"));
        Optional<FaultFleet.Node> now = fleet.singletonNode();
        checks.add(new Check("the singleton moved", now.isPresent() && !now.get().name().equals(victim.name()),
                "now on " + now.map(FaultFleet.Node::name).orElse("?")));
    }

    /** Waits (bounded) until a VM's migration target is up with its QMP socket (a step in its switch-over); its host. */
    private static String awaitSwitchingOverHost(FaultFleet fleet, Map<String, Object> facts) throws IOException, InterruptedException {
        String vm = awaitTargetLaunched(fleet).orElseThrow(() -> new IOException("no migration target process appeared"));
        String host = fleet.hostOf(vm).name();
        facts.put("killed_agent", host);
        facts.put("switching_over_at_kill", vm);
        return host;
    }

    private static void killAndRestartAgent(FaultFleet fleet, String host, List<Check> checks, Consumer<String> progress)
            throws IOException {
        killAndRestartAgent(fleet, host, true, checks, progress);
    }

    /** (SIGKILLs and) starts the host's agent again; it must re-adopt every VM of its host. */
    private static void killAndRestartAgent(FaultFleet fleet, String host, boolean kill, List<Check> checks,
            Consumer<String> progress) throws IOException {
        fleet.restartAgent(host, kill);
        progress.accept("  " + (kill ? "SIGKILLed the agent of " + host + " mid-switch-over; restarted" : "the agent of " + host
                + " started again") + ", it re-adopted its VMs");
        checks.add(new Check("the restarted agent re-adopted every VM of its host", true, host));
    }

    /**
     * The stopped coordinator's commands, as it would send them: once an agent has seen the next epoch (the new
     * incarnation resent its open steps), a step of the old epoch for one of its VMs must be refused by the fence
     * ({@code fenced:}) and launch nothing (the ledger check after the plan sees no such id). The stopped node's own
     * later messages never arrive (its incarnation is quarantined once it is downed), so this runner plays it.
     */
    private static void staleSteps(FaultFleet fleet, long oldEpoch, List<Check> checks, Map<String, Object> facts)
            throws InterruptedException {
        Map<String, ActorRef<HostAgent.Command>> refs = fleet.agentRefs();
        Map<String, Long> seen = new LinkedHashMap<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        do {
            refs.forEach((host, ref) -> fleet.agentState(ref).ifPresent(st -> seen.put(host, st.highestEpoch())));
            if (seen.values().stream().noneMatch(e -> e > oldEpoch)) {
                Thread.sleep(200);
            }
        } while (seen.values().stream().noneMatch(e -> e > oldEpoch) && System.nanoTime() < deadline);
        facts.put("agents_highest_epoch_before_stale_steps", Map.copyOf(seen));
        Map<String, String> answers = new LinkedHashMap<>();
        boolean allFenced = true;
        for (Map.Entry<String, Long> a : seen.entrySet()) {
            if (a.getValue() <= oldEpoch) {
                continue; // an agent that never saw the new epoch cannot tell (the quarantine is its guard)
            }
            String vm = fleet.hosts().get(a.getKey()).vms().get(0);
            Optional<HostAgent.StepReply> r = fleet.performStep(refs.get(a.getKey()), a.getKey(), vm,
                    "stale-" + vm, oldEpoch);
            String answer = r.map(Object::toString).orElse("no answer");
            answers.put(a.getKey(), answer);
            allFenced &= r.isPresent() && r.get() instanceof HostAgent.StepRefused ref
                    && ref.reason().startsWith("fenced:");
        }
        facts.put("stale_step_answers", answers);
        checks.add(new Check("the fence refuses the stopped coordinator's epoch at every agent that saw the next",
                !answers.isEmpty() && allFenced, answers.isEmpty() ? "no agent had seen a newer epoch than " + oldEpoch + ": " + seen
                        : answers.size() + " stale step(s): " + answers));
    }

    /** A migration's target VMM process. */
    record Target(String vm, long pid, int generation) {
    }

    /**
     * Waits (bounded) until a migration target process (generation above 0) <em>starts</em>: one not running at the
     * first look and without its QMP socket yet, so that the caller sees it from its start (a target already running
     * when the plan is mid-way may be past its switch-over). One pass over the process table per look.
     */
    private static Optional<Target> awaitTargetProcess(FaultFleet fleet) throws InterruptedException {
        Map<Path, List<String>> vms = fleet.vmsByDirectory();
        Set<Long> running = new HashSet<>();
        FaultFleet.vmmProcesses(vms).values().forEach(procs -> procs.forEach((pid, g) -> {
            if (g > 0) {
                running.add(pid);
            }
        }));
        long deadline = System.nanoTime() + MID_PLAN.toNanos();
        while (System.nanoTime() < deadline) {
            for (Map.Entry<String, Map<Long, Integer>> vm : FaultFleet.vmmProcesses(vms).entrySet()) {
                for (Map.Entry<Long, Integer> p : vm.getValue().entrySet()) {
                    if (p.getValue() > 0 && running.add(p.getKey())) {
                        Path socket = FaultFleet.qmpOf(fleet.hostOf(vm.getKey()).vmmDir(), vm.getKey(), p.getValue());
                        if (!Files.exists(socket)) {
                            return Optional.of(new Target(vm.getKey(), p.getKey(), p.getValue()));
                        }
                    }
                }
            }
            Thread.sleep(5);
        }
        return Optional.empty();
    }

    /**
     * Waits (bounded) until a VM's migration target process is up with its QMP socket present: a step is in its
     * switch-over phase. The VM's name.
     */
    private static Optional<String> awaitTargetLaunched(FaultFleet fleet) throws InterruptedException {
        Optional<Target> t = awaitTargetProcess(fleet);
        if (t.isEmpty()) {
            return Optional.empty();
        }
        Path socket = FaultFleet.qmpOf(fleet.hostOf(t.get().vm()).vmmDir(), t.get().vm(), t.get().generation());
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (!Files.exists(socket) && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        return t.map(Target::vm);
    }

    private static void checkAfter(FaultFleet fleet, Optional<UpgradeCoordinator.Status> end, JournalCredentials login,
            List<Check> checks, Map<String, Object> facts) throws IOException {
        List<String> vms = fleet.allVms();
        UpgradeCoordinator.Status s = end.orElseThrow(() -> new IOException("the coordinator never answered after the fault"));
        facts.put("epoch_after", s.epoch());
        facts.put("failures", s.failures());
        boolean complete = s.complete() && "complete".equals(s.state()) && s.open().isEmpty()
                && s.finished().keySet().containsAll(vms);
        checks.add(new Check("the plan completes, every VM with a closed step", complete, "state " + s.state() + ", finished "
                + s.finished().size() + " of " + vms.size() + ", open " + s.open() + ", failures " + s.failures()));
        Map<String, Object> finished = new LinkedHashMap<>();
        s.finished().forEach((vm, r) -> finished.put(vm, r.migrationId() + (r.completed() ? " completed" : " " + r.detail())));
        facts.put("steps", finished);

        // the process table and the VMMs themselves
        List<String> notOne = new ArrayList<>();
        List<String> notRunning = new ArrayList<>();
        List<String> tapFds = new ArrayList<>();
        List<String> disagree = new ArrayList<>();
        Map<String, Object> vmms = new LinkedHashMap<>();
        for (String vm : vms) {
            FaultFleet.Host h = fleet.hostOf(vm);
            Map<Long, Integer> procs = FaultFleet.vmmProcessesOf(h.vmmDir(), vm);
            if (procs.size() != 1) {
                notOne.add(vm + " " + procs);
                notRunning.add(vm + ": not on one VMM process");
                tapFds.add(vm + ": not on one VMM process");
                disagree.add(vm + ": not on one VMM process");
                continue;
            }
            long pid = procs.keySet().iterator().next();
            int generation = procs.get(pid);
            Path qmp = FaultFleet.qmpOf(h.vmmDir(), vm, generation);
            String status;
            JsonNode migrate;
            try {
                status = FaultFleet.qmp(qmp, "query-status").path("status").asText();
                migrate = FaultFleet.qmp(qmp, "query-migrate");
            } catch (IOException e) {
                notRunning.add(vm + ": " + e.getMessage());
                continue;
            }
            if (!"running".equals(status)) {
                notRunning.add(vm + " " + status);
            }
            int tun = ProcessCensus.fdKinds(pid).tun();
            if (tun != FaultFleet.QUEUES) {
                tapFds.add(vm + " holds " + tun);
            }
            String migrateStatus = migrate.path("status").asText("none");
            vmms.put(vm, "generation " + generation + ", query-migrate " + migrateStatus);
            UpgradeCoordinator.StepRecord rec = s.finished().get(vm);
            boolean vmmSaysMoved = generation >= 1 && "completed".equals(migrateStatus) && migrate.has("x-target-started-ns");
            boolean vmmSaysStayed = generation == 0 && !"completed".equals(migrateStatus);
            if (rec == null || (rec.completed() ? !vmmSaysMoved : !vmmSaysStayed)) {
                disagree.add(vm + ": journal " + (rec == null ? "no step" : rec.completed() ? "completed" : "failed") + ", VMM generation "
                        + generation + " query-migrate " + migrate);
            }
        }
        facts.put("vmms", vmms);
        checks.add(new Check("every VM on exactly one VMM process", notOne.isEmpty(), notOne.isEmpty() ? vms.size() + " VMs"
                : String.valueOf(notOne)));
        checks.add(new Check("every VM running", notRunning.isEmpty(), notRunning.isEmpty() ? "query-status running"
                : String.valueOf(notRunning)));
        for (Map.Entry<String, ChildProcess> a : fleet.agents().entrySet()) {
            if (a.getValue().isAlive() && ProcessCensus.fdKinds(a.getValue().pid()).tun() != 0) {
                tapFds.add("agent " + a.getKey() + " holds " + ProcessCensus.fdKinds(a.getValue().pid()).tun());
            }
        }
        checks.add(new Check("TAP fds: " + FaultFleet.QUEUES + " per VM in its one process, none elsewhere",
                tapFds.isEmpty(), tapFds.isEmpty() ? "held" : String.valueOf(tapFds)));
        List<String> silent = vms.stream().filter(vm -> !fleet.ping(vm)).toList();
        checks.add(new Check("every VM answers ping through its TAP", silent.isEmpty(), silent.isEmpty() ? vms.size() + " answered"
                : "no answer from " + silent));
        checks.add(new Check("the journal agrees with the VMMs' query-migrate and the process generation",
                disagree.isEmpty(), disagree.isEmpty() ? "per VM" : String.valueOf(disagree)));

        // the journal's own history
        List<CoordinatorJournal.Recorded> rows = journal(fleet, login);
        List<String> problems = journalProblems(rows, vms, s);
        Set<String> writers = new LinkedHashSet<>();
        rows.forEach(r -> writers.add(r.writer()));
        facts.put("journal_rows", rows.size());
        facts.put("journal_writers", writers.size());
        checks.add(new Check("the journal's history: no gap, epochs rising, each VM started and closed once, never two at once",
                problems.isEmpty(), problems.isEmpty() ? rows.size() + " rows, " + writers.size() + " writer(s)" : String.valueOf(problems)));

        // the fence, in the agents' own ledgers
        Map<String, Set<String>> granted = new HashMap<>();
        rows.stream().filter(r -> r.event() instanceof StepStarted).map(r -> (StepStarted) r.event())
                .forEach(st -> granted.computeIfAbsent(st.vm(), v -> new LinkedHashSet<>()).add(st.migrationId()));
        List<String> fence = new ArrayList<>();
        for (Map.Entry<String, Path> l : fleet.ledgers().entrySet()) {
            fence.addAll(ledgerProblems(l.getKey(), l.getValue(), granted));
        }
        checks.add(new Check("the fence: no agent started a step of an older epoch, nor one the journal did not grant",
                fence.isEmpty(), fence.isEmpty() ? fleet.ledgers().size() + " ledgers" : String.valueOf(fence)));
        facts.put("fenced_answers_logged_by_nodes", fencedLines(fleet));
    }

    /**
     * Lines naming a fenced refusal in the nodes' logs: a coordinator's driver logs each {@code fenced} answer it gets
     * from an agent (the agents answer, they do not log), so a stale coordinator whose steps reached an agent shows here.
     */
    private static int fencedLines(FaultFleet fleet) {
        int n = 0;
        try (var files = Files.list(fleet.dir())) {
            for (Path f : files.filter(p -> p.getFileName().toString().startsWith("node-")).toList()) {
                n += (int) Files.readString(f, StandardCharsets.UTF_8).lines().filter(l -> l.contains(": fenced (")).count();
            }
        } catch (IOException e) {
            return -1;
        }
        return n;
    }

    static List<String> ledgerProblems(String host, Path ledger, Map<String, Set<String>> granted) {
        List<String> problems = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(ledger, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return List.of(host + ": cannot read its ledger: " + e.getMessage());
        }
        long highest = 0;
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f.length == 2 && f[0].equals("epoch")) {
                highest = Math.max(highest, Long.parseLong(f[1]));
            } else if (f.length == 4 && f[0].equals("started")) {
                long epoch = Long.parseLong(f[3]);
                if (epoch < highest) {
                    problems.add(host + ": " + line + " after epoch " + highest);
                }
                highest = Math.max(highest, epoch);
                if (!granted.getOrDefault(f[2], Set.of()).contains(f[1])) {
                    problems.add(host + ": " + line + " was never granted by the journal");
                }
            }
        }
        return problems;
    }

    /** The coordinator's rows, read with plain JDBC and decoded with the fleet's own serializers (this JVM's member). */
    private static List<CoordinatorJournal.Recorded> journal(FaultFleet fleet, JournalCredentials login) throws IOException {
        try {
            return CoordinatorJournal.events(fleet.operator().system(), fleet.journalUrl(), login.user(), login.password());
        } catch (SQLException e) {
            throw new IOException("cannot read the journal: " + e.getMessage(), e);
        }
    }

    static List<String> journalProblems(List<CoordinatorJournal.Recorded> rows, List<String> vms, UpgradeCoordinator.Status s) {
        List<String> problems = new ArrayList<>();
        long lastEpoch = 0;
        Map<String, String> open = new HashMap<>();
        Map<String, List<String>> started = new HashMap<>();
        Map<String, List<String>> closed = new HashMap<>();
        for (int i = 0; i < rows.size(); i++) {
            CoordinatorJournal.Recorded row = rows.get(i);
            if (row.sequenceNumber() != i + 1) {
                problems.add("sequence number " + row.sequenceNumber() + " at row " + (i + 1));
            }
            if (row.event() instanceof UpgradeCoordinator.EpochBegan e) {
                if (e.epoch() <= lastEpoch) {
                    problems.add("epoch " + e.epoch() + " after " + lastEpoch);
                }
                lastEpoch = e.epoch();
            } else if (row.event() instanceof StepStarted st) {
                String before = open.put(st.vm(), st.migrationId());
                if (before != null) {
                    problems.add(st.vm() + " started " + st.migrationId() + " while " + before + " was open");
                }
                started.computeIfAbsent(st.vm(), v -> new ArrayList<>()).add(st.migrationId());
            } else if (row.event() instanceof StepClosed c) {
                String was = open.remove(c.vm());
                if (!c.migrationId().equals(was)) {
                    problems.add(c.vm() + " closed " + c.migrationId() + " but its open step was " + was);
                }
                closed.computeIfAbsent(c.vm(), v -> new ArrayList<>()).add(c.migrationId());
            }
        }
        for (String vm : vms) {
            UpgradeCoordinator.StepRecord rec = s.finished().get(vm);
            List<String> one = rec == null ? List.of("?") : List.of(rec.migrationId());
            if (!one.equals(started.get(vm)) || !one.equals(closed.get(vm))) {
                problems.add(vm + ": started " + started.get(vm) + ", closed " + closed.get(vm) + ", status " + rec);
            }
        }
        if (!open.isEmpty()) {
            problems.add("left open: " + open);
        }
        return problems;
    }

    /** The outcomes as one JSON object: {@code ok}, {@code scenarios} (each with its checks and facts). */
    public static ObjectNode toJson(List<Outcome> outcomes, Settings settings) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        root.put("ok", !outcomes.isEmpty() && outcomes.stream().allMatch(Outcome::ok));
        root.put("hosts", settings.hosts());
        root.put("nodes", settings.nodes());
        root.put("vms_per_host", settings.vmsPerHost());
        root.put("transport", settings.transport());
        ArrayNode list = root.putArray("scenarios");
        for (Outcome o : outcomes) {
            ObjectNode s = list.addObject();
            s.put("scenario", o.scenario().label());
            s.put("ok", o.ok());
            s.put("wall_ms", o.wallMs());
            s.put("load_before", o.loadBefore());
            s.put("load_after", o.loadAfter());
            ArrayNode checks = s.putArray("checks");
            for (Check c : o.checks()) {
                checks.addObject().put("name", c.name()).put("ok", c.ok()).put("detail", c.detail());
            }
            s.set("facts", new ObjectMapper().valueToTree(o.facts()));
        }
        return root;
    }

    /** The table: scenario × outcome, wall time, load, the failed checks. */
    public static String table(List<Outcome> outcomes) {
        StringBuilder t = new StringBuilder(String.format("%-20s %-7s %8s %-20s %s%n", "SCENARIO", "OUTCOME", "WALL S", "LOAD",
                "CHECKS"));
        for (Outcome o : outcomes) {
            long failed = o.checks().stream().filter(c -> !c.ok()).count();
            t.append(String.format(Locale.ROOT, "%-20s %-7s %8.1f %-20s %d/%d held%s%n", o.scenario().label(), o.ok() ? "PASS" : "FAIL",
                    o.wallMs() / 1000.0, o.loadBefore() + " -> " + o.loadAfter(), o.checks().size() - failed, o.checks().size(),
                    failed == 0 ? "" : "; failed: " + o.checks().stream().filter(c -> !c.ok()).map(c -> c.name() + " (" + c.detail()
                            + ")").toList()));
        }
        return t.toString();
    }

    /** The 1-minute load average ({@code /proc/loadavg}), or "?". */
    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg"), StandardCharsets.UTF_8).split(" ")[0];
        } catch (IOException e) {
            return "?";
        }
    }
}
