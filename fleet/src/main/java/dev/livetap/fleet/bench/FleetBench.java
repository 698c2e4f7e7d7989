package dev.livetap.fleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.report.Percentiles;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A rolling replacement of one host's VMM process, as an upgrade does it: the host's N VMs live in
 * one {@code livetap vmm --vms N} process (each VM a real single-queue TAP {@code lt<i>} in a
 * private namespace); each round starts a new VMM process ({@code --incoming}), migrates every VM
 * into it with the one driver ({@link LocalMigration}, {@code drivers} of them at once), and stops
 * the old process. A {@link FreezeBudget} bounds the switch-overs in their freeze window.
 *
 * <p>Where the budget applies ({@link Gate}): {@code SWITCHOVER} takes the permit in the driver's
 * switch-over gate, so it covers {@code migrate} → target running; {@code AROUND} holds a permit from before the
 * driver's first command to its result, a superset of the stop→resume window, so at most K VMs are
 * frozen at once; {@code HOLD} grants the {@code migrate-continue} of a source held in
 * {@code pre-switchover}, where the source is already stopped: waiting for the permit is frozen
 * time. The overlap of the VMMs' own stop/resume stamps ({@code max_frozen_at_once}) checks either.
 *
 * <p>{@code migrations_per_s} = completed measured migrations ÷ the sum of the measured rounds'
 * migration windows (first driver start to last driver result; process starts and NIC set-up are
 * outside). {@code fds_leaked}: TAP fds left in a retired process, TAP fds of the new process
 * beyond one per VM, and fds the bench's own JVM gained.
 */
public final class FleetBench {
    /** Where the freeze budget applies. */
    public enum Gate {
        /**
         * A permit taken in the driver's switch-over gate (right before {@code migrate}, the target listening) and given
         * back when the migration ended: it covers {@code migrate} → target running, not the QMP set-up.
         */
        SWITCHOVER,
        /** A permit around the whole driver run: the freeze window is inside it (the way before the gate). */
        AROUND,
        /** A permit grants the release of a source held (already stopped) in {@code pre-switchover}. */
        HOLD
    }

    /**
     * @param budgetLabel how the budget was asked for ({@code 8}, {@code auto}, {@code none}), echoed in the JSON
     * @param drivers     migrations driven at once (driver threads); the budget limits their freeze windows
     */
    public record Options(int hosts, int vmsPerHost, int rounds, int warmupRounds, FreezeBudget.Settings budget,
            String budgetLabel, int drivers, Gate gate, Duration timeout) {
        public Options {
            if (hosts != 1) {
                throw new IllegalArgumentException("--hosts: the in-process bench drives one host from this JVM; "
                        + "AgentFleetBench (--mode agents) runs one host agent process per host");
            }
            if (vmsPerHost < 1 || vmsPerHost > 1000 || rounds < 1 || rounds > 100 || warmupRounds < 0 || warmupRounds > 10
                    || drivers < 1 || drivers > 1000) {
                throw new IllegalArgumentException("--vms-per-host 1..1000, --rounds 1..100, --warmup-rounds 0..10 and "
                        + "--drivers 1..1000 are required");
            }
        }
    }

    private FleetBench() {
    }

    /** One VM's migration as the bench saw it. */
    private record Outcome(boolean completed, double downtimeMs, long stoppedNs, long startedNs, long driverMs, String error,
            double permitMs) {
        Outcome(boolean completed, double downtimeMs, long stoppedNs, long startedNs, long driverMs, String error) {
            this(completed, downtimeMs, stoppedNs, startedNs, driverMs, error, -1);
        }
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException, InterruptedException {
        int n = o.vmsPerHost();
        String load0 = loadAverage();
        long wall0 = System.nanoTime();
        long self = ProcessHandle.current().pid();
        FreezeBudget budget = new FreezeBudget(o.budget());
        List<Outcome> measured = new ArrayList<>();
        long windowNs = 0;
        int failed = 0;
        List<String> failures = new ArrayList<>();
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltf");
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(o.drivers(), n), r -> {
            Thread t = new Thread(r, "fleet-bench-driver-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        int benchFds0 = -1;
        int leakedTun = 0;
        VmmProcess current = null;
        try (NetworkNamespace ns = NetworkNamespace.create("f")) {
            try {
                current = startGeneration(dir, ns.wrap(List.of()), 0, n, false, o.timeout());
                addNics(pool, current, 0, n, false, o.timeout());
                progress.accept("generation 0: " + n + " VMs with a real TAP each; load " + loadAverage());
                // counted once the process's reactor exists (its epoll and wake-up fds open with the first QMP client)
                benchFds0 = ProcessCensus.fdsBesideTheJvmsOwn(self);
                for (int r = 0; r < o.warmupRounds() + o.rounds(); r++) {
                    boolean warm = r < o.warmupRounds();
                    VmmProcess next = startGeneration(dir, ns.wrap(List.of()), r + 1, n, true, o.timeout());
                    try {
                        addNics(pool, next, r + 1, n, true, o.timeout());
                    } catch (IOException | RuntimeException e) {
                        next.close();
                        throw e;
                    }
                    List<Future<Outcome>> running = new ArrayList<>();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        Path src = qmp(dir, r, i);
                        Path tgt = qmp(dir, r + 1, i);
                        running.add(pool.submit(() -> migrate(src, tgt, budget, o)));
                    }
                    List<Outcome> round = new ArrayList<>();
                    for (Future<Outcome> f : running) {
                        round.add(await(f, o.timeout()));
                    }
                    long t1 = System.nanoTime();
                    int done = (int) round.stream().filter(Outcome::completed).count();
                    round.stream().filter(x -> !x.completed()).limit(3).forEach(x -> failures.add(x.error()));
                    // fd conservation: the old process gave every TAP fd away, the new one holds one per VM
                    int oldTun = ProcessCensus.fdKinds(current.pid()).tun();
                    int newTun = ProcessCensus.fdKinds(next.pid()).tun();
                    leakedTun += oldTun + Math.max(0, newTun - n);
                    if (!warm) {
                        measured.addAll(round);
                        windowNs += t1 - t0;
                        failed += n - done;
                    } else if (done != n) {
                        throw new IOException("warm-up round " + r + ": " + done + "/" + n + " migrations completed; first: "
                                + failures);
                    }
                    Percentiles p = Percentiles.of(round.stream().filter(Outcome::completed).map(Outcome::downtimeMs).toList());
                    progress.accept(String.format(Locale.ROOT,
                            "round %d%s: %d/%d completed in %.0f ms, downtime p50 %.3f p99 %.3f ms, K now %d, "
                                    + "TAP fds old %d new %d; load %s", r, warm ? " (warm-up)" : "", done, n, (t1 - t0) / 1e6,
                            p.p50(), p.p99(), budget.limit(), oldTun, newTun, loadAverage()));
                    current.close();
                    current = next;
                    if (done != n && !warm) {
                        break; // a VM that did not move stays in the old process, which is gone now: stop here
                    }
                }
            } finally {
                if (current != null) {
                    current.close();
                }
            }
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(30, TimeUnit.SECONDS);
            deleteTree(dir);
        }
        int leakedBench = benchFds0 < 0 ? 0 : Math.max(0, ProcessCensus.fdsBesideTheJvmsOwn(self) - benchFds0);
        return report(o, budget, measured, failed, failures, windowNs, leakedTun, leakedBench, wall0, load0);
    }

    private static Outcome migrate(Path src, Path tgt, FreezeBudget budget, Options o) {
        LocalMigration.Options opts = LocalMigration.Options.of(src, tgt).withTimeout(o.timeout());
        FreezeBudget.Permit[] permit = {null};
        long[] held = {0, 0}; // the permit's grant and release, System.nanoTime()
        LocalMigration.Result result = null;
        FreezeBudget.RunPlace place = null;
        try {
            place = budget.enterRun(o.timeout()); // the look-ahead: before the driver connects to either VMM
            if (o.gate() == Gate.SWITCHOVER) {
                opts = opts.withSwitchoverGate(maxWait -> {
                    FreezeBudget.Permit p = budget.acquire(maxWait);
                    held[0] = System.nanoTime();
                    return downtimeMs -> {
                        held[1] = System.nanoTime();
                        budget.release(p, downtimeMs);
                    };
                });
            } else if (o.gate() == Gate.AROUND) {
                permit[0] = budget.acquire(o.timeout());
                held[0] = System.nanoTime();
            } else {
                opts = opts.withHold((client, info) -> {
                    try {
                        permit[0] = budget.acquire(o.timeout());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted while waiting for a freeze permit", e);
                    }
                });
            }
            result = LocalMigration.run(opts, line -> { });
            if (o.gate() == Gate.AROUND) {
                held[1] = System.nanoTime();
            }
            if (!result.completed()) {
                return new Outcome(false, -1, 0, 0, 0, src.getFileName() + ": " + result.status() + " " + result.error());
            }
            return new Outcome(true, result.downtimeMs(), result.sourceInfo().path("x-source-stopped-ns").asLong(),
                    result.targetInfo().path("x-target-started-ns").asLong(), result.wallMs(), null,
                    o.gate() == Gate.HOLD ? -1 : (held[1] - held[0]) / 1e6);
        } catch (IOException | TimeoutException e) {
            return new Outcome(false, -1, 0, 0, 0, src.getFileName() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome(false, -1, 0, 0, 0, src.getFileName() + ": interrupted");
        } finally {
            if (permit[0] != null) {
                budget.release(permit[0], result != null && result.completed() ? result.downtimeMs() : -1);
            }
            if (place != null) {
                budget.leaveRun(place);
            }
        }
    }

    private static Outcome await(Future<Outcome> f, Duration timeout) throws IOException, InterruptedException {
        try {
            return f.get(timeout.toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            return new Outcome(false, -1, 0, 0, 0, String.valueOf(e.getCause()));
        } catch (TimeoutException e) {
            throw new IOException("a migration did not end within " + timeout.toMillis() * 2 + " ms");
        }
    }

    static Path qmp(Path dir, int generation, int vm) {
        return dir.resolve("g" + generation).resolve("g" + generation + "-" + vm + ".qmp");
    }

    /** Starts generation {@code generation} of a host: one {@code livetap vmm --vms n} process through {@code prefix}. */
    static VmmProcess startGeneration(Path dir, List<String> prefix, int generation, int n, boolean incoming,
            Duration timeout) throws IOException {
        String name = "g" + generation;
        Files.createDirectories(dir.resolve(name));
        String extra = System.getProperty(AgentFleetBench.VMM_JVM_OPTIONS, "").strip();
        List<String> extraOptions = extra.isEmpty() ? List.of() : List.of(extra.split("\\s+"));
        VmmProcess p = VmmProcess.start(VmmProcess.Options.of(dir, name).withQmp(null).withPrefix(prefix)
                .withJvmOptions(ChildLaunch.vmmJvmOptions(n)).withExtraJvmOptions(extraOptions).withReadyLines(n)
                .withIncoming(incoming).withArgs(List.of("--vms", String.valueOf(n), "--qmp-dir",
                        dir.resolve(name).toString(), "--name", name + "-", "--migration-timeout",
                        String.valueOf(Math.max(30, timeout.toSeconds())))));
        try {
            p.awaitReady(Duration.ofSeconds(Math.max(120, n / 5)));
        } catch (TimeoutException | IOException e) {
            p.close();
            throw new IOException("VMM process " + name + " did not get ready: " + e.getMessage() + "; " + p.tail(), e);
        }
        return p;
    }

    /** netdev_add/device_add on every VM of a generation: a real TAP on the first, incoming-fds after. */
    static void addNics(ExecutorService pool, VmmProcess vmm, int generation, int n, boolean incoming,
            Duration timeout) throws IOException, InterruptedException {
        Path dir = vmm.options().dir();
        List<Future<Outcome>> work = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int vm = i;
            work.add(pool.submit(() -> {
                try (QmpClient c = QmpClient.connect(qmp(dir, generation, vm), timeout)) {
                    c.negotiate();
                    ObjectNode netdev = JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", "net0")
                            .put("ifname", "lt" + vm).put("queues", 1);
                    if (incoming) {
                        netdev.put("incoming-fds", true).put("script", "no").put("downscript", "no");
                    }
                    c.execute("netdev_add", netdev);
                    c.execute("device_add", JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci")
                            .put("id", "nic0").put("netdev", "net0").put("mac", String.format("52:54:00:12:%02x:%02x",
                                    vm >> 8, vm & 0xff)));
                    return new Outcome(true, 0, 0, 0, 0, null);
                } catch (IOException | TimeoutException | RuntimeException e) {
                    return new Outcome(false, -1, 0, 0, 0, "g" + generation + "-" + vm + " NIC: " + e.getMessage());
                }
            }));
        }
        for (Future<Outcome> f : work) {
            Outcome x = await(f, timeout);
            if (!x.completed()) {
                throw new IOException(x.error());
            }
        }
    }

    /** The most freeze windows open at one instant, from the VMMs' own CLOCK_MONOTONIC stamps. */
    static int maxOverlap(List<long[]> windows) {
        List<long[]> edges = new ArrayList<>();
        for (long[] w : windows) {
            edges.add(new long[] {w[0], 1});
            edges.add(new long[] {w[1], -1});
        }
        // at equal instants a resume is counted before a stop: touching windows do not overlap
        edges.sort(Comparator.<long[]>comparingLong(e -> e[0]).thenComparingLong(e -> e[1]));
        int open = 0;
        int max = 0;
        for (long[] e : edges) {
            open += (int) e[1];
            max = Math.max(max, open);
        }
        return max;
    }

    private static ObjectNode report(Options o, FreezeBudget budget, List<Outcome> measured, int failed, List<String> failures,
            long windowNs, int leakedTun, int leakedBench, long wall0, String load0) {
        List<Outcome> ok = measured.stream().filter(Outcome::completed).toList();
        Percentiles p = Percentiles.of(ok.stream().map(Outcome::downtimeMs).toList());
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("hosts", o.hosts());
        out.put("vms_per_host", o.vmsPerHost());
        out.put("rounds", o.rounds());
        out.put("warmup_rounds", o.warmupRounds());
        out.put("drivers", o.drivers());
        out.put("gate", o.gate().name().toLowerCase(Locale.ROOT));
        out.put("look_ahead", o.budget().lookAhead().label());
        out.put("max_in_run", budget.maxInRun());
        out.put("completed", ok.size());
        out.put("failed", failed);
        out.put("migrations_per_s", windowNs == 0 ? 0 : Math.round(ok.size() / (windowNs / 1e9) * 10) / 10.0);
        ObjectNode d = out.putObject("downtime_ms");
        d.put("p50", p.p50());
        d.put("p99", p.p99());
        d.put("max", p.max());
        // the driver's whole run (with --gate around: the permit) against its freeze: the rest is QMP set-up and wrap-up
        Percentiles run = Percentiles.of(ok.stream().map(x -> (double) x.driverMs()).toList());
        Percentiles unfrozen = Percentiles.of(ok.stream().map(x -> x.driverMs() - x.downtimeMs()).toList());
        ObjectNode dr = out.putObject("driver_run_ms");
        dr.put("p50", run.p50());
        dr.put("p99", run.p99());
        ObjectNode uf = out.putObject("driver_run_not_frozen_ms");
        uf.put("p50", unfrozen.p50());
        uf.put("p99", unfrozen.p99());
        // the permit's span (gate switchover: migrate to the end; around: the whole run) against the freeze
        List<Outcome> timed = ok.stream().filter(x -> x.permitMs() >= 0).toList();
        if (!timed.isEmpty()) {
            Percentiles held = Percentiles.of(timed.stream().map(Outcome::permitMs).toList());
            Percentiles heldUnfrozen = Percentiles.of(timed.stream().map(x -> x.permitMs() - x.downtimeMs()).toList());
            out.putObject("permit_held_ms").put("p50", held.p50()).put("p99", held.p99());
            out.putObject("permit_not_frozen_ms").put("p50", heldUnfrozen.p50()).put("p99", heldUnfrozen.p99());
        }
        out.put("max_frozen_at_once", maxOverlap(ok.stream().map(x -> new long[] {x.stoppedNs(), x.startedNs()}).toList()));
        out.put("fds_leaked", leakedTun + leakedBench);
        ObjectNode l = out.putObject("fds_leaked_by");
        l.put("tap_fds_in_retired_or_beyond_one_per_vm", leakedTun);
        l.put("bench_jvm", leakedBench);
        out.put("window_ms", windowNs / 1_000_000);
        out.put("wall_ms", (System.nanoTime() - wall0) / 1_000_000);
        ObjectNode b = out.putObject("budget");
        b.put("asked", o.budgetLabel());
        b.put("adaptive", o.budget().adaptive());
        b.put("k_initial", o.budget().initial());
        b.put("k_final", budget.limit());
        b.put("k_min", o.budget().min());
        b.put("k_max", o.budget().max());
        if (o.budget().adaptive()) {
            b.put("downtime_limit_ms", o.budget().limitMs());
        }
        b.put("max_in_use", budget.maxInUse());
        b.put("adjustments", budget.adjustmentCount());
        out.put("real_tap", true);
        out.put("load_before", load0);
        out.put("load_after", loadAverage());
        if (!failures.isEmpty()) {
            var f = out.putArray("first_failures");
            failures.stream().limit(3).forEach(f::add);
        }
        return out;
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "unknown";
        }
    }

    static void deleteTree(Path dir) {
        try (var walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp directory left behind is reported by nothing; the next cleanup removes it
        }
    }

    /** For tests: the JSON member names the command promises. */
    static final List<String> REQUIRED = List.of("completed", "migrations_per_s", "downtime_ms", "fds_leaked", "wall_ms",
            "budget");

    static boolean hasRequired(JsonNode report) {
        return REQUIRED.stream().allMatch(report::has);
    }
}
