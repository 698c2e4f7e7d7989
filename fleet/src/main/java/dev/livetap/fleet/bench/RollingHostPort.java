package dev.livetap.fleet.bench;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * A bench host's migration port: the host's VMs {@code vm0…vmN-1} live in one {@code livetap vmm
 * --vms N} process per generation (generation 0 with a real single-queue TAP {@code lt<i>} each).
 * A step moves its VM from its generation g to g+1 with the one driver ({@link LocalMigration}).
 * The next generation is always started ahead: when the last VM has left generation g, a
 * background thread counts the TAP fds (the retired process must hold none, the new one one per
 * VM), stops g, starts g+2 with its {@code incoming-fds} NICs, samples this JVM (heap used after a
 * GC, RSS, fds, threads) and announces {@code READY g<g+2>}: the bench starts its next round only
 * then, so process starts stay out of its measured windows.
 *
 * <p>Everything the bench reads afterwards goes to {@code DIR/host.log}, one line per event:
 * {@code M vm id completed downtime_ms stopped_ns started_ns driver_ms permit_ms} (or {@code M vm id failed …};
 * {@code permit_ms}: how long the freeze permit was held — gated, from the gate's admission to its
 * release; not gated, the whole port call, which the agent's permit surrounds),
 * {@code G generation tap_fds_left_in_retired tap_fds_in_new}, {@code S label heap_used_after_gc_bytes
 * rss_kb fds threads network_sockets}.
 */
public final class RollingHostPort implements HostAgent.MigrationPort, AutoCloseable {
    /** The prefix of the line that announces a prepared generation (or a failure to prepare one). */
    public static final String READY_GENERATION = "READY g";
    public static final String READY_FAILED = "READY FAILED ";
    public static final String LOG = "host.log";

    private final Path dir;
    private final List<String> prefix;
    private final int n;
    private final Duration timeout;
    /** True: the switch-over goes through the agent's gate (the permit covers {@code migrate} → running only). */
    private final boolean gated;
    private final Consumer<String> announce;
    private final ExecutorService nicSetUp;
    private final ExecutorService retirer;
    private final BufferedWriter log;
    private final Object lock = new Object();
    // guarded by lock: the generation each VM runs on, the VMs per generation, the live processes
    private final int[] generationOf;
    private final Map<Integer, Integer> population = new HashMap<>();
    private final Map<Integer, VmmProcess> processes = new HashMap<>();

    private RollingHostPort(Path dir, List<String> prefix, int n, Duration timeout, boolean gated, Consumer<String> announce,
            BufferedWriter log) {
        this.gated = gated;
        this.dir = dir;
        this.prefix = List.copyOf(prefix);
        this.n = n;
        this.timeout = timeout;
        this.announce = announce;
        this.log = log;
        this.generationOf = new int[n];
        AtomicInteger threadNo = new AtomicInteger();
        this.nicSetUp = Executors.newFixedThreadPool(Math.min(16, n), r -> daemon(r, "bench-host-nic-" + threadNo.incrementAndGet()));
        this.retirer = Executors.newSingleThreadExecutor(r -> daemon(r, "bench-host-generations"));
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /**
     * Starts generation 0 (real TAPs) and generation 1 (incoming); the caller samples once its agent serves.
     *
     * @param prefix   what the VMM processes start through ({@code ip netns exec NS})
     * @param gated    true: the agent's freeze permit is taken in the driver's switch-over gate; false: the agent holds
     *                 it around the whole step (the way before the gate, kept for A/B measurements)
     * @param announce where {@code READY g…} lines go (the bench host's stdout)
     */
    public static RollingHostPort start(Path dir, List<String> prefix, int n, Duration timeout, boolean gated,
            Consumer<String> announce) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        RollingHostPort port = new RollingHostPort(dir, prefix, n, timeout, gated, announce,
                Files.newBufferedWriter(dir.resolve(LOG), StandardCharsets.UTF_8));
        try {
            VmmProcess g0 = FleetBench.startGeneration(dir, prefix, 0, n, false, timeout);
            synchronized (port.lock) {
                port.processes.put(0, g0);
                port.population.put(0, n);
            }
            FleetBench.addNics(port.nicSetUp, g0, 0, n, false, timeout);
            port.prepare(1);
            return port;
        } catch (IOException | InterruptedException | RuntimeException e) {
            port.close();
            throw e;
        }
    }

    @Override
    public List<String> vms() {
        return IntStream.range(0, n).mapToObj(i -> "vm" + i).toList();
    }

    @Override
    public boolean gatesSwitchover() {
        return gated;
    }

    @Override
    public HostAgent.StepDone migrate(String vm, String migrationId) throws IOException, TimeoutException, InterruptedException {
        return migrate(vm, migrationId, dev.livetap.fleet.agent.VmmBuilds.CURRENT, null);
    }

    @Override
    public HostAgent.StepDone migrate(String vm, String migrationId, String targetVersion, LocalMigration.SwitchoverGate gate)
            throws IOException, TimeoutException, InterruptedException {
        long called = System.nanoTime();
        long[] permit = {0, 0}; // the gate's admission and release, CLOCK_MONOTONIC
        LocalMigration.SwitchoverGate timed = gate == null ? null : maxWait -> {
            LocalMigration.Release release = gate.admit(maxWait);
            permit[0] = System.nanoTime();
            return downtimeMs -> {
                permit[1] = System.nanoTime();
                release.ended(downtimeMs);
            };
        };
        int i = indexOf(vm);
        if (i < 0) {
            return new HostAgent.StepDone(vm, migrationId, "failed: no VM " + vm + " on this host", -1);
        }
        int g;
        synchronized (lock) {
            g = generationOf[i];
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!processes.containsKey(g + 1)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException("generation " + (g + 1) + " not prepared within " + timeout.toSeconds() + " s");
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
        }
        LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(FleetBench.qmp(dir, g, i),
                FleetBench.qmp(dir, g + 1, i)).withTimeout(timeout).withSwitchoverGate(timed), line -> { });
        long permitNs = gate == null ? System.nanoTime() - called : permit[1] - permit[0];
        if (!r.completed()) {
            write(String.format(Locale.ROOT, "M %s %s failed %s %s", vm, migrationId, r.status(), String.valueOf(r.error())
                    .replace('\n', ' ')));
            return new HostAgent.StepDone(vm, migrationId, "failed: " + r.status() + " " + r.error(), -1);
        }
        write(String.format(Locale.ROOT, "M %s %s completed %.4f %d %d %d %.3f", vm, migrationId, r.downtimeMs(),
                r.sourceInfo().path("x-source-stopped-ns").asLong(), r.targetInfo().path("x-target-started-ns").asLong(),
                r.wallMs(), permitNs / 1e6));
        boolean emptied;
        synchronized (lock) {
            generationOf[i] = g + 1;
            population.merge(g + 1, 1, Integer::sum);
            emptied = population.merge(g, -1, Integer::sum) == 0;
        }
        if (emptied) {
            retirer.execute(() -> retire(g));
        }
        return new HostAgent.StepDone(vm, migrationId, "completed", r.downtimeMs());
    }

    private static int indexOf(String vm) {
        if (!vm.matches("vm\\d{1,4}")) {
            return -1;
        }
        return Integer.parseInt(vm.substring(2));
    }

    /** Generation g is empty: count its TAP fds and g+1's, stop it, start g+2, sample, announce. */
    private void retire(int g) {
        try {
            VmmProcess old;
            VmmProcess next;
            synchronized (lock) {
                old = processes.remove(g);
                next = processes.get(g + 1);
                population.remove(g);
            }
            int oldTun = ProcessCensus.fdKinds(old.pid()).tun();
            int newTun = ProcessCensus.fdKinds(next.pid()).tun();
            old.close();
            write("G " + g + " " + oldTun + " " + newTun);
            prepare(g + 2);
            sample("g" + g);
            announce.accept(READY_GENERATION + (g + 2));
        } catch (IOException | InterruptedException | RuntimeException e) {
            write("E generation " + g + ": " + e);
            announce.accept(READY_FAILED + "retiring generation " + g + " or preparing " + (g + 2) + ": " + e);
        }
    }

    private void prepare(int generation) throws IOException, InterruptedException {
        VmmProcess p = FleetBench.startGeneration(dir, prefix, generation, n, true, timeout);
        try {
            FleetBench.addNics(nicSetUp, p, generation, n, true, timeout);
        } catch (IOException | InterruptedException | RuntimeException e) {
            p.close();
            throw e;
        }
        synchronized (lock) {
            processes.put(generation, p);
            population.putIfAbsent(generation, 0);
            lock.notifyAll();
        }
    }

    /** Logs a sample of this JVM after a full GC: heap used, RSS, fds beside the JVM's own files, threads. */
    public void sample(String label) {
        System.gc();
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long self = ProcessHandle.current().pid();
        write("S " + label + " " + heap + " " + ProcessCensus.rssKb(self) + " " + ProcessCensus.fdsBesideTheJvmsOwn(self) + " "
                + ProcessCensus.threads(self) + " " + networkSockets(self));
    }

    /**
     * The sockets of {@code pid} that are not unix sockets: the cluster transport's TCP connections,
     * which come and go with membership and heartbeats (a leak is judged without them).
     */
    static int networkSockets(long pid) {
        Set<String> unix = new HashSet<>();
        ProcessCensus.unixSockets(pid).forEach(f -> unix.add("socket:[" + f[6] + "]"));
        return (int) ProcessCensus.targetsBesideTheJvmsOwn(pid).orElse(List.of()).stream()
                .filter(t -> t.startsWith("socket:") && !unix.contains(t)).count();
    }

    private void write(String line) {
        synchronized (log) {
            try {
                log.write(line);
                log.newLine();
                log.flush();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + dir.resolve(LOG), e);
            }
        }
    }

    /** Stops every VMM process of the host (bounded) and the set-up threads. Idempotent. */
    @Override
    public void close() {
        retirer.shutdownNow();
        try {
            retirer.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        List<VmmProcess> all;
        synchronized (lock) {
            all = List.copyOf(processes.values());
            processes.clear();
        }
        all.forEach(VmmProcess::close);
        nicSetUp.shutdownNow();
        synchronized (log) {
            try {
                log.close();
            } catch (IOException e) {
                // the log's last lines are already flushed
            }
        }
    }
}
