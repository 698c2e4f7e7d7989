package dev.livetap.testbed.bench;

import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpConnection;
import dev.livetap.engine.qmp.QmpJson;
import dev.livetap.engine.qmp.QmpMux;
import dev.livetap.report.Percentiles;
import dev.livetap.testbed.Retry;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Many VMs migrating at once between one source and one target VMM process ({@code vmm --vms N}):
 * every VM has a real single-queue TAP ({@code lt<i>}) in a private namespace. The bench drives
 * all VMs concurrently, as a control plane would ({@link QmpMux}: one connection per VM endpoint,
 * commands written without waiting for replies, MIGRATION/RESUME events instead of polling).
 *
 * <p>Measured window: from the write of the first {@code migrate} to the moment the bench has read
 * the last of the events that end the migrations; a migration has ended when its source reported
 * MIGRATION {@code completed} (the target's {@code loaded} arrived) and its target RESUME (it reads
 * its queues again). {@code migrations_per_s} = completed migrations ÷ that window. The set-up
 * (children, QMP connections, NICs, {@code migrate-incoming}) is outside the window and timed per
 * phase; so is the {@code query-migrate} that fetches each migration's stamps afterwards.
 */
public final class ConcurrentBench {
    /**
     * @param warmupVms further VMs migrated at once before the measured batch (unmeasured: the
     *                  JIT compiles the migration path during the first batch; see docs/benchmarks.md)
     * @param inFlight  at most this many migrations between their {@code migrate} and their end
     *                  ({@code vms}: all at once; fewer: a control plane's admission window)
     * @param timeout bound of every phase that waits for the VMM processes
     * @param jfrDir  null, or where each VMM child's JFR recording (settings=profile) is dumped
     *                ({@code vmm-s.jfr}, {@code vmm-t.jfr}) with jcmd before the children are stopped
     * @param setupWidth VMs whose set-up commands run at once (a stress knob; the set-up is not measured)
     */
    public record Options(int vms, int warmupVms, int inFlight, List<String> jvmOptions, Duration timeout, Path jfrDir,
            int setupWidth) {
        /** All VMs at once, no warm-up batch, no JFR, {@link #SETUP_WIDTH}. */
        public Options(int vms, List<String> jvmOptions, Duration timeout) {
            this(vms, 0, vms, jvmOptions, timeout, null, SETUP_WIDTH);
        }
    }

    /** VMs whose set-up commands (NICs, migrate-incoming) are in progress at once. */
    static final int SETUP_WIDTH = 16;

    private ConcurrentBench() {
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException {
        if (o.vms() < 1 || o.vms() + o.warmupVms() > 4096 || o.warmupVms() < 0 || o.setupWidth() < 1
                || o.inFlight() < 1) {
            throw new IllegalArgumentException("--vms must be >= 1, --warmup >= 0, together at most 4096; --setup-width and "
                    + "--in-flight >= 1");
        }
        int n = o.vms();
        int w = o.warmupVms();
        int total = n + w; // endpoints per process: the measured VMs 0..n-1, the warm-up VMs n..n+w-1
        String load0 = DowntimeBench.loadAverage();
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltc");
        List<VmmProcess> children = new ArrayList<>();
        ObjectNode out = new ObjectMapper().createObjectNode();
        Map<String, Double> phases = new LinkedHashMap<>();
        long wall0 = System.nanoTime();
        long timeoutNs = o.timeout().toNanos();
        try (NetworkNamespace ns = NetworkNamespace.create("b"); QmpMux mux = new QmpMux()) {
            try {
                long p0 = System.nanoTime();
                // every target listens from its migrate-incoming until its source connects: scale the waits with the count
                String waits = String.valueOf(Math.max(30, total / 2));
                List<String> jvm = new ArrayList<>(o.jvmOptions());
                if (o.jfrDir() != null) {
                    jvm.add("-XX:StartFlightRecording=name=livetap-bench,settings=profile,jdk.ExecutionSample#period=2ms");
                }
                VmmProcess s = VmmProcess.start(VmmProcess.Options.of(dir, "s").withQmp(null).withPrefix(ns.wrap(List.of()))
                        .withJvmOptions(jvm).withReadyLines(total).withArgs(List.of("--vms", String.valueOf(total), "--qmp-dir",
                                dir.resolve("s").toString(), "--name", "s", "--migration-timeout", waits)));
                children.add(s);
                VmmProcess t = VmmProcess.start(VmmProcess.Options.of(dir, "t").withQmp(null).withPrefix(ns.wrap(List.of()))
                        .withJvmOptions(jvm).withReadyLines(total).withIncoming(true).withArgs(List.of("--vms",
                                String.valueOf(total), "--qmp-dir", dir.resolve("t").toString(), "--name", "t",
                                "--migration-timeout", waits)));
                children.add(t);
                Duration ready = Duration.ofSeconds(Math.max(120, total / 5));
                try {
                    s.awaitReady(ready);
                    t.awaitReady(ready);
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new IOException(e.getMessage(), e);
                }
                p0 = phase(phases, "start_vmm_processes", p0);
                progress.accept(total + " + " + total + " endpoints ready; load " + DowntimeBench.loadAverage());

                List<Path> paths = new ArrayList<>();
                List<String> names = new ArrayList<>();
                for (String side : List.of("s", "t")) {
                    for (int i = 0; i < total; i++) {
                        paths.add(dir.resolve(side).resolve(side + i + ".qmp"));
                        names.add(side + i);
                    }
                }
                List<QmpMux.Conn> all = mux.connectAll(paths, names, o.timeout().toMillis());
                QmpMux.Conn[] src = all.subList(0, total).toArray(QmpMux.Conn[]::new);
                QmpMux.Conn[] tgt = all.subList(total, 2 * total).toArray(QmpMux.Conn[]::new);
                p0 = phase(phases, "connect_qmp", p0);
                int srcFds0 = ProcessCensus.fdsBesideTheJvmsOwn(s.pid());
                int tgtFds0 = ProcessCensus.fdsBesideTheJvmsOwn(t.pid());

                // idle QMP round trip: one command at a time on one connection (nothing else running)
                List<Double> idleRtt = new ArrayList<>();
                for (int k = 0; k < 100; k++) {
                    int[] got = {0};
                    src[k % total].send("query-status", null, r -> {
                        idleRtt.add(r.rttMs());
                        got[0]++;
                    });
                    mux.pump(System.nanoTime() + timeoutNs, () -> got[0] == 1, "query-status");
                }
                p0 = phase(phases, "idle_qmp_rtt_x100", p0);

                int realTaps = addNics(mux, src, tgt, o.setupWidth(), timeoutNs);
                p0 = phase(phases, "add_nics", p0);
                Long rss0 = rssMb(s.pid(), t.pid());

                String[] uris = new String[total];
                for (int i = 0; i < total; i++) {
                    uris[i] = "unix:" + dir.resolve("m" + i + ".sock");
                }
                List<String> refused = new ArrayList<>();
                windowed(mux, total, o.setupWidth(), timeoutNs, "migrate-incoming", (i, done) -> {
                    int[] answered = {0};
                    // the driver's set-up: local and events on both sides, migrate-incoming on the target
                    LocalMigration.sendSetUp(src[i], tgt[i], uris[i], r -> {
                        if (!r.ok()) {
                            refused.add(r.command() + ": " + r.error());
                        }
                        if (++answered[0] == LocalMigration.SET_UP_COMMANDS) {
                            done.run();
                        }
                    });
                });
                if (!refused.isEmpty()) {
                    throw new IOException(refused.size() + " set-up command(s) refused, first: " + refused.get(0));
                }
                // migrate-incoming answers before the target listens (its coordinator binds next): wait for the paths
                awaitPaths(dir, total, timeoutNs);
                p0 = phase(phases, "migrate_incoming", p0);

                int warmCompleted = 0;
                if (w > 0) {
                    progress.accept(w + " warm-up migrations at once; load " + DowntimeBench.loadAverage());
                    LocalMigration.BatchResult warm = LocalMigration.runBatch(mux, src, tgt, uris, n, total, o.inFlight(), o.timeout());
                    warmCompleted = warm.completed();
                    if (warm.completed() != w) {
                        throw new IOException("warm-up: " + warm.completed() + "/" + w + " migrations ended: "
                                + (warm.unfinished() != null ? warm.unfinished() + "; " : "") + warm.failures());
                    }
                    p0 = phase(phases, "warmup_migrations", p0);
                    // the first batch of a fresh process pair (the JIT compiles the migration path meanwhile)
                    ObjectNode cold = out.putObject("warmup");
                    cold.put("vms", w);
                    cold.put("completed", warm.completed());
                    double ws = (warm.windowEnd() - warm.t0()) / 1e9;
                    cold.put("migrations_per_s", ws > 0 ? Math.round(warm.completed() / ws * 10) / 10.0 : 0);
                    cold.put("window_ms", DowntimeBench.round((warm.windowEnd() - warm.t0()) / 1e6));
                }

                // ---- measured window: first migrate written -> last migration ended
                progress.accept(n + " migrations at once; load " + DowntimeBench.loadAverage());
                Map<String, Long> threads0s = ProcessCensus.threadTicks(s.pid());
                Map<String, Long> threads0t = ProcessCensus.threadTicks(t.pid());
                long[] cpu0 = {ProcessCensus.cpuTicks(s.pid()), ProcessCensus.cpuTicks(t.pid()), ProcessCensus.cpuTicks(ProcessHandle.current().pid())};
                long[] machine0 = machineTicks();
                LocalMigration.BatchResult b = LocalMigration.runBatch(mux, src, tgt, uris, 0, n, o.inFlight(), o.timeout());
                long afterWindow = System.nanoTime();
                long[] cpu1 = {ProcessCensus.cpuTicks(s.pid()), ProcessCensus.cpuTicks(t.pid()), ProcessCensus.cpuTicks(ProcessHandle.current().pid())};
                long[] machine1 = machineTicks();
                Map<String, Long> threads1s = ProcessCensus.threadTicks(s.pid());
                Map<String, Long> threads1t = ProcessCensus.threadTicks(t.pid());
                phases.put("migrate_window", (b.windowEnd() - b.t0()) / 1e6);
                p0 = afterWindow;
                progress.accept(b.completed() + "/" + n + " migrations ended in " + (b.windowEnd() - b.t0()) / 1_000_000
                        + " ms; load " + DowntimeBench.loadAverage());

                // ---- after the window: the engine's stamps of every ended migration (pipelined query-migrate)
                long[] stopped = new long[n];
                long[] started = new long[n];
                int[] stamps = {0};
                int wanted = 0;
                for (int i = 0; i < n; i++) {
                    if (!b.migrations().get(i).ended()) {
                        continue;
                    }
                    int v = i;
                    wanted += 2;
                    src[i].send("query-migrate", null, r -> {
                        stamps[0]++;
                        stopped[v] = r.ok() ? r.value().path("x-source-stopped-ns").asLong() : 0;
                    });
                    tgt[i].send("query-migrate", null, r -> {
                        stamps[0]++;
                        started[v] = r.ok() ? r.value().path("x-target-started-ns").asLong() : 0;
                    });
                }
                int wantedStamps = wanted;
                mux.pump(System.nanoTime() + timeoutNs, () -> stamps[0] == wantedStamps, "query-migrate");
                p0 = phase(phases, "query_stamps", p0);

                List<Double> downtimes = new ArrayList<>();
                List<Double> migrateRtt = new ArrayList<>();
                List<Double> toActive = new ArrayList<>();
                List<Double> toEnd = new ArrayList<>();
                List<Double> stopAt = new ArrayList<>();
                List<Double> startAt = new ArrayList<>();
                long firstStop = Long.MAX_VALUE;
                long lastStart = 0;
                int unstamped = 0;
                int retries = 0;
                List<long[]> inFlight = new ArrayList<>();
                List<long[]> frozen = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    LocalMigration.BatchMigration vm = b.migrations().get(i);
                    retries += vm.connectRetries();
                    if (vm.migrateReplyNs() != 0) {
                        migrateRtt.add((vm.migrateReplyNs() - vm.migrateSentNs()) / 1e6);
                    }
                    if (!vm.ended()) {
                        continue;
                    }
                    if (vm.sourceActiveNs() != 0) {
                        toActive.add((vm.sourceActiveNs() - b.t0()) / 1e6);
                    }
                    toEnd.add((vm.endNs() - b.t0()) / 1e6);
                    inFlight.add(new long[] {vm.migrateSentNs(), vm.endNs()});
                    if (stopped[i] == 0 || started[i] == 0) {
                        unstamped++;
                        continue;
                    }
                    downtimes.add((started[i] - stopped[i]) / 1e6);
                    stopAt.add((stopped[i] - b.t0()) / 1e6); // the engine's stamps are CLOCK_MONOTONIC, as System.nanoTime
                    startAt.add((started[i] - b.t0()) / 1e6);
                    frozen.add(new long[] {stopped[i], started[i]});
                    firstStop = Math.min(firstStop, stopped[i]);
                    lastStart = Math.max(lastStart, started[i]);
                }
                Long rss1 = rssMb(s.pid(), t.pid());
                // the source closes each channel once its 'completed' is in the kernel: let the closes land
                int moved = b.completed() + warmCompleted;
                int[] leaked = {0};
                Retry.until(Duration.ofSeconds(10), Duration.ofMillis(50), () -> {
                    // a migrated TAP fd is the target's now; one that did not migrate is still the source's
                    leaked[0] = (ProcessCensus.fdsBesideTheJvmsOwn(s.pid()) - srcFds0 - (realTaps - moved))
                            + (ProcessCensus.fdsBesideTheJvmsOwn(t.pid()) - tgtFds0 - moved);
                    return leaked[0] <= 0;
                });
                phase(phases, "fd_settle", p0);
                if (o.jfrDir() != null) {
                    ObjectNode jfrOut = out.putObject("jfr");
                    for (VmmProcess c : children) {
                        Path f = o.jfrDir().toAbsolutePath().resolve("vmm-" + c.name() + ".jfr");
                        HostCommand.check(Duration.ofSeconds(20), "jcmd", String.valueOf(c.pid()), "JFR.dump", "name=livetap-bench", "filename=" + f);
                        jfrOut.put(c.name(), f.toString());
                    }
                }

                out.put("vms", n);
                out.put("real_taps", Math.min(realTaps, n)); // addNics fails unless every VM got its TAP
                out.put("real_taps_with_warmup", realTaps);
                out.put("stand_in_fds", 0);
                out.put("warmup_vms", w);
                out.put("in_flight_limit", Math.min(o.inFlight(), n));
                out.put("completed", b.completed());
                double seconds = (b.windowEnd() - b.t0()) / 1e9;
                out.put("migrations_per_s", seconds > 0 ? Math.round(b.completed() / seconds * 10) / 10.0 : 0);
                out.put("window_ms", DowntimeBench.round((b.windowEnd() - b.t0()) / 1e6));
                if (b.issued() != 0) { // first to last migrate written (all at once: a few ms)
                    out.put("migrate_commands_ms", DowntimeBench.round((b.issued() - b.t0()) / 1e6));
                }
                // the window on the wall clock, to cut profiles (e.g. --jfr) to it
                long epochMinusMono = System.currentTimeMillis() - System.nanoTime() / 1_000_000;
                ArrayNode we = out.putArray("window_epoch_ms");
                we.add(b.t0() / 1_000_000 + epochMinusMono);
                we.add(b.windowEnd() / 1_000_000 + epochMinusMono);
                out.put("first_stop_to_last_start_ms", firstStop == Long.MAX_VALUE ? 0
                        : DowntimeBench.round((lastStart - firstStop) / 1e6));
                putPercentiles(out.putObject("downtime_ms"), downtimes);
                putPercentiles(out.putObject("migrate_reply_ms"), migrateRtt);
                putPercentiles(out.putObject("source_active_after_ms"), toActive);
                putPercentiles(out.putObject("source_stopped_after_ms"), stopAt);
                putPercentiles(out.putObject("target_started_after_ms"), startAt);
                putPercentiles(out.putObject("ended_after_ms"), toEnd);
                putPercentiles(out.putObject("idle_qmp_rtt_ms"), idleRtt);
                // CPU in the window (from the first migrate until the bench saw the end; /proc, clock ticks):
                // how much of the 2 cores the two VMM processes got, and how busy the machine was
                ObjectNode cpu = out.putObject("window_cpu_s");
                double hz = 100.0;
                String[] who = {"source", "target", "bench"};
                for (int k = 0; k < 3; k++) {
                    if (cpu0[k] < 0 || cpu1[k] < 0) {
                        cpu.putNull(who[k]); // /proc/PID/stat unreadable
                    } else {
                        cpu.put(who[k], (cpu1[k] - cpu0[k]) / hz);
                    }
                }
                cpu.put("wall", DowntimeBench.round((afterWindow - b.t0()) / 1e9));
                long busy = machine1[0] - machine0[0];
                long all0 = machine1[1] - machine0[1];
                cpu.put("machine_busy_fraction", all0 > 0 ? Math.round(100.0 * busy / all0) / 100.0 : 0);
                cpu.put("machine_busy_cpu_s", busy / hz);
                ObjectNode byThread = cpu.putObject("by_thread");
                byThread.set("source", topThreads(threads0s, threads1s, 8));
                byThread.set("target", topThreads(threads0t, threads1t, 8));
                out.put("max_in_flight", maxOverlap(inFlight));
                out.put("max_frozen_at_once", maxOverlap(frozen));
                out.put("connect_retries", retries);
                out.put("unstamped", unstamped);
                out.put("rss_mb_before", rss0);
                out.put("rss_mb_after", rss1);
                ObjectNode heap = out.putObject("heap_mb");
                heap.set("source", heapInfo(s.pid()));
                heap.set("target", heapInfo(t.pid()));
                out.put("fds_leaked", Math.max(0, leaked[0]));
                ObjectNode ph = out.putObject("phases_ms");
                phases.forEach((k, v) -> ph.put(k, DowntimeBench.round(v)));
                ObjectNode q = out.putObject("bench_qmp");
                q.put("replies", mux.replies());
                q.put("events", mux.events());
                q.put("selects", mux.selects());
                List<String> failures = new ArrayList<>(b.failures());
                if (b.unfinished() != null) {
                    failures.add(0, b.unfinished());
                }
                if (!failures.isEmpty()) {
                    ArrayNode f = out.putArray("failures");
                    failures.forEach(f::add);
                }
            } catch (IOException | RuntimeException e) {
                StringBuilder sb = new StringBuilder(e.getMessage() == null ? e.toString() : e.getMessage());
                for (VmmProcess c : children) {
                    sb.append("\n--- ").append(c.name()).append(" stderr:\n").append(c.tail());
                }
                sb.append("\n(the VMM processes' logs are kept in ").append(dir).append(")");
                throw new IOException(sb.toString(), e);
            } finally { // the bench's QMP connections close with the try above, after the children
                for (VmmProcess c : children) {
                    c.close();
                }
            }
        }
        out.put("load_average_start", load0);
        out.put("load_average_end", DowntimeBench.loadAverage());
        out.put("wall_ms", (System.nanoTime() - wall0) / 1_000_000);
        out.put("jvm_options", String.join(" ", o.jvmOptions()));
        if (out.has("failures")) {
            out.put("logs_kept_in", dir.toString()); // the VMM processes' stderr, for the failures above
        } else {
            DowntimeBench.deleteTree(dir);
        }
        return out;
    }

    /**
     * {@code netdev_add} (a real TAP {@code lt<i>} on the source, {@code incoming-fds} on the
     * target) and {@code device_add} for every VM, all sent at once. Returns the number of real
     * TAPs; fails if the host refused any: stand-in fds are not possible here, since the VM endpoint
     * takes only real TAP queue fds with {@code netdev_add fd=} (as QEMU does).
     */
    static int addNics(QmpMux mux, QmpMux.Conn[] src, QmpMux.Conn[] tgt, int width, long timeoutNs) throws IOException {
        int n = src.length;
        int[] taps = {0};
        List<String> refused = new ArrayList<>();
        windowed(mux, n, width, timeoutNs, "netdev_add/device_add", (i, done) -> {
            int[] answered = {0};
            for (boolean incoming : new boolean[] {false, true}) {
                QmpMux.Conn c = incoming ? tgt[i] : src[i];
                ObjectNode netdev = QmpJson.object().put("type", "tap").put("id", "net0").put("ifname", "lt" + i).put("queues", 1);
                if (incoming) {
                    netdev.put("incoming-fds", true).put("script", "no").put("downscript", "no");
                }
                c.send("netdev_add", netdev, r -> {
                    if (r.ok() && !incoming) {
                        taps[0]++;
                    } else if (!r.ok()) {
                        refused.add(c.name() + " netdev_add: " + r.error());
                    }
                    if (++answered[0] == 4) {
                        done.run();
                    }
                });
                c.send("device_add", QmpJson.object().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                        .put("mac", "52:54:00:12:34:56"), r -> {
                            if (!r.ok()) {
                                refused.add(c.name() + " device_add: " + r.error());
                            }
                            if (++answered[0] == 4) {
                                done.run();
                            }
                        });
            }
        });
        if (!refused.isEmpty()) {
            throw new IOException("only " + taps[0] + " of " + n + " real TAPs could be opened (" + refused.size()
                    + " refusal(s), first: " + refused.get(0) + "); stand-in fds are not possible: netdev_add fd= takes"
                    + " only real TAP queue fds");
        }
        return taps[0];
    }

    /** One VM's step of a set-up phase: send its commands, call {@code done} once when all are answered. */
    interface Step {
        void start(int vm, Runnable done);
    }

    /**
     * Runs {@code step} for VMs 0..n-1 with at most {@code width} of them in progress (set-up is
     * not measured; 1,000 hot-plugs at once overload a 2-core host, see docs/benchmarks.md).
     */
    static void windowed(QmpMux mux, int n, int width, long timeoutNs, String what, Step step) throws IOException {
        int[] next = {0};
        int[] finished = {0};
        Runnable[] launch = new Runnable[1];
        launch[0] = () -> {
            if (next[0] < n) {
                int i = next[0]++;
                boolean[] once = {false};
                step.start(i, () -> {
                    if (!once[0]) {
                        once[0] = true;
                        finished[0]++;
                        launch[0].run();
                    }
                });
            }
        };
        for (int k = 0; k < Math.min(width, n); k++) {
            launch[0].run();
        }
        mux.pump(System.nanoTime() + timeoutNs, () -> finished[0] == n, what);
    }

    /** Waits (bounded, {@link Retry}) until every target's migration socket path exists. */
    private static void awaitPaths(Path dir, int n, long timeoutNs) throws IOException {
        long deadline = System.nanoTime() + timeoutNs;
        for (int i = 0; i < n; i++) {
            Path p = dir.resolve("m" + i + ".sock");
            if (!Retry.until(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())), Duration.ofMillis(1), () -> Files.exists(p))) {
                throw new IOException("the target did not listen at " + p + " in time");
            }
        }
    }

    /** The largest number of intervals [from, to] that overlap at one instant. */
    static int maxOverlap(List<long[]> intervals) {
        long[] starts = intervals.stream().mapToLong(a -> a[0]).sorted().toArray();
        long[] ends = intervals.stream().mapToLong(a -> a[1]).sorted().toArray();
        int max = 0;
        int open = 0;
        int j = 0;
        for (long st : starts) {
            while (j < ends.length && ends[j] < st) {
                j++;
                open--;
            }
            open++;
            max = Math.max(max, open);
        }
        return max;
    }

    private static void putPercentiles(ObjectNode node, List<Double> samples) {
        if (samples.isEmpty()) {
            node.put("count", 0);
            return;
        }
        Percentiles p = Percentiles.of(samples);
        node.put("count", p.count());
        node.put("min", DowntimeBench.round(p.min()));
        node.put("p50", DowntimeBench.round(p.p50()));
        node.put("p99", DowntimeBench.round(p.p99()));
        node.put("max", DowntimeBench.round(p.max()));
    }

    private static long phase(Map<String, Double> phases, String name, long since) {
        long now = System.nanoTime();
        phases.put(name, (now - since) / 1e6);
        return now;
    }

    /** The {@code top} thread groups by CPU seconds between two {@link #threadTicks} snapshots. */
    static ObjectNode topThreads(Map<String, Long> before, Map<String, Long> after, int top) {
        Map<String, Long> byGroup = new java.util.TreeMap<>();
        after.forEach((k, v) -> byGroup.merge(k.substring(0, k.lastIndexOf('/')), v - before.getOrDefault(k, 0L), Long::sum));
        ObjectNode o = new ObjectMapper().createObjectNode();
        byGroup.entrySet().stream().filter(e -> e.getValue() > 0)
                .sorted((a, b) -> Long.compare(b.getValue(), a.getValue())).limit(top)
                .forEach(e -> o.put(e.getKey(), e.getValue() / 100.0));
        return o;
    }

    /** {busy, total} ticks of all CPUs from /proc/stat (busy = total - idle - iowait). */
    static long[] machineTicks() throws IOException {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        long total = 0;
        for (int i = 1; i <= 8 && i < f.length; i++) { // user nice system idle iowait irq softirq steal (guest is in user)
            total += Long.parseLong(f[i]);
        }
        long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
        return new long[] {total - idle, total};
    }

    /** RSS of both processes in MB, or null when either is unreadable. */
    static Long rssMb(long a, long b) {
        long x = ProcessCensus.rssKb(a);
        long y = ProcessCensus.rssKb(b);
        return x < 0 || y < 0 ? null : (x + y) / 1024;
    }

    /** Used and committed heap in MB from {@code jcmd PID GC.heap_info} (G1 and Serial print "total NK, used NK"). */
    static ObjectNode heapInfo(long pid) {
        ObjectNode h = new ObjectMapper().createObjectNode();
        String line;
        try {
            String s = HostCommand.check(Duration.ofSeconds(20), "jcmd", String.valueOf(pid), "GC.heap_info");
            line = s.lines().filter(l -> l.contains("total") && l.contains("used")).findFirst().orElse(null);
        } catch (IllegalStateException e) {
            h.put("error", e.getMessage());
            return h;
        }
        java.util.regex.Matcher m = line == null ? null
                : java.util.regex.Pattern.compile("total (\\d+)K, used (\\d+)K").matcher(line);
        if (m == null || !m.find()) {
            h.put("error", "no heap line in jcmd GC.heap_info: " + line);
            return h;
        }
        h.put("committed", Long.parseLong(m.group(1)) / 1024);
        h.put("used", Long.parseLong(m.group(2)) / 1024);
        return h;
    }

}
