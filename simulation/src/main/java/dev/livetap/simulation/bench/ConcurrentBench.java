package dev.livetap.simulation.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.report.Percentiles;
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
    /** @param timeout bound of every phase that waits for the VMM processes */
    public record Options(int vms, List<String> jvmOptions, Duration timeout) {
    }

    /** Retries of a {@code migrate} refused because the target had bound but not yet listened. */
    static final int MAX_CONNECT_RETRIES = 100;
    /** VMs whose set-up commands (NICs, migrate-incoming) are in progress at once. */
    static final int SETUP_WIDTH = 16;

    private ConcurrentBench() {
    }

    /** What the bench saw of one VM's migration (bench clock = CLOCK_MONOTONIC, as the engine's stamps). */
    private static final class Vm {
        long migrateSentNs;
        long migrateReplyNs;
        long sourceActiveNs;
        long sourceCompletedNs;
        long targetCompletedNs;
        long targetResumedNs;
        int connectRetries;
        boolean ended;
        String failure;

        long endNs() {
            return Math.max(sourceCompletedNs, targetResumedNs);
        }
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException {
        if (o.vms() < 1 || o.vms() > 4096) {
            throw new IllegalArgumentException("--vms must be 1 to 4096");
        }
        int n = o.vms();
        String load0 = Hop.loadAverage();
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltc");
        List<VmmChild> children = new ArrayList<>();
        ObjectNode out = new ObjectMapper().createObjectNode();
        Map<String, Double> phases = new LinkedHashMap<>();
        long wall0 = System.nanoTime();
        long timeoutNs = o.timeout().toNanos();
        try (Netns ns = Netns.create(); QmpMux mux = new QmpMux()) {
            try {
                long p0 = System.nanoTime();
                // every target listens from its migrate-incoming until its source connects: scale the waits with n
                String waits = String.valueOf(Math.max(30, n / 2));
                VmmChild s = VmmChild.start(ns, dir, "s", o.jvmOptions(), List.of("--vms", String.valueOf(n), "--qmp-dir",
                        dir.resolve("s").toString(), "--name", "s", "--migration-timeout", waits));
                children.add(s);
                VmmChild t = VmmChild.start(ns, dir, "t", o.jvmOptions(), List.of("--vms", String.valueOf(n), "--incoming",
                        "--qmp-dir", dir.resolve("t").toString(), "--name", "t", "--migration-timeout", waits));
                children.add(t);
                Duration ready = Duration.ofSeconds(Math.max(120, n / 5));
                s.awaitReady(n, ready);
                t.awaitReady(n, ready);
                p0 = phase(phases, "start_vmm_processes", p0);
                progress.accept(n + " + " + n + " endpoints ready; load " + Hop.loadAverage());

                List<Path> paths = new ArrayList<>();
                List<String> names = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    paths.add(dir.resolve("s").resolve("s" + i + ".qmp"));
                    names.add("s" + i);
                }
                for (int i = 0; i < n; i++) {
                    paths.add(dir.resolve("t").resolve("t" + i + ".qmp"));
                    names.add("t" + i);
                }
                List<QmpMux.Conn> all = mux.connectAll(paths, names, o.timeout().toMillis());
                QmpMux.Conn[] src = all.subList(0, n).toArray(QmpMux.Conn[]::new);
                QmpMux.Conn[] tgt = all.subList(n, 2 * n).toArray(QmpMux.Conn[]::new);
                p0 = phase(phases, "connect_qmp", p0);
                int srcFds0 = fds(s.pid());
                int tgtFds0 = fds(t.pid());

                // idle QMP round trip: one command at a time on one connection (nothing else running)
                List<Double> idleRtt = new ArrayList<>();
                for (int k = 0; k < 100; k++) {
                    int[] got = {0};
                    src[k % n].send("query-status", null, r -> {
                        idleRtt.add(r.rttMs());
                        got[0]++;
                    });
                    mux.pump(System.nanoTime() + timeoutNs, () -> got[0] == 1, "query-status");
                }
                p0 = phase(phases, "idle_qmp_rtt_x100", p0);

                int realTaps = addNics(mux, src, tgt, SETUP_WIDTH, timeoutNs);
                p0 = phase(phases, "add_nics", p0);
                long rss0 = rssKb(s.pid()) + rssKb(t.pid());

                Vm[] vms = new Vm[n];
                for (int i = 0; i < n; i++) {
                    vms[i] = new Vm();
                }
                String[] uris = new String[n];
                for (int i = 0; i < n; i++) {
                    uris[i] = "unix:" + dir.resolve("m" + i + ".sock");
                }
                List<String> refused = new ArrayList<>();
                windowed(mux, n, SETUP_WIDTH, timeoutNs, "migrate-incoming", (i, done) -> {
                    int[] answered = {0};
                    Consumer<QmpMux.Reply> check = r -> {
                        if (!r.ok()) {
                            refused.add(r.command() + ": " + r.error());
                        }
                        if (++answered[0] == 3) {
                            done.run();
                        }
                    };
                    tgt[i].send("migrate-set-parameters", Qmp.args().put("local", true), check);
                    tgt[i].send("migrate-incoming", Qmp.args().put("uri", uris[i]), check);
                    src[i].send("migrate-set-parameters", Qmp.args().put("local", true), check);
                });
                if (!refused.isEmpty()) {
                    throw new IOException(refused.size() + " set-up command(s) refused, first: " + refused.get(0));
                }
                // migrate-incoming answers before the target listens (its coordinator binds next): wait for the paths
                awaitPaths(dir, n, timeoutNs);
                p0 = phase(phases, "migrate_incoming", p0);
                progress.accept(n + " targets listening; migrating all; load " + Hop.loadAverage());

                // ---- measured window: first migrate written -> last migration ended
                int[] open = {n};
                List<Consumer<QmpMux.Reply>> onMigrateReply = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    Vm vm = vms[i];
                    QmpMux.Conn sc = src[i];
                    QmpMux.Conn tc = tgt[i];
                    String uri = uris[i];
                    Runnable endIfDone = () -> {
                        if (!vm.ended && vm.failure == null && vm.sourceCompletedNs != 0 && vm.targetResumedNs != 0) {
                            vm.ended = true;
                            open[0]--;
                        }
                    };
                    Consumer<String> fail = why -> {
                        if (!vm.ended && vm.failure == null) {
                            vm.failure = why;
                            open[0]--;
                        }
                    };
                    Consumer<QmpMux.Reply> onMigrate = r -> {
                        vm.migrateReplyNs = r.receivedNs();
                        if (!r.ok()) {
                            fail.accept("migrate: " + r.error());
                        }
                    };
                    onMigrateReply.add(onMigrate);
                    sc.onEvent = e -> {
                        if (!e.event().equals("MIGRATION")) {
                            return;
                        }
                        switch (e.status()) {
                            case "active" -> vm.sourceActiveNs = vm.sourceActiveNs == 0 ? e.ns() : vm.sourceActiveNs;
                            case "completed" -> {
                                vm.sourceCompletedNs = e.ns();
                                endIfDone.run();
                            }
                            case "failed", "cancelled" -> sc.send("query-migrate", null, q -> {
                                String error = q.ok() ? q.value().path("error-desc").asText() : q.error();
                                // bind(2) and listen(2) of the target are two steps: a connect in between is
                                // refused and the source fails at once, before stopping anything: retry (bounded)
                                if (error.startsWith("cannot connect") && vm.connectRetries < MAX_CONNECT_RETRIES
                                        && vm.sourceActiveNs == 0) {
                                    vm.connectRetries++;
                                    mux.later(2_000_000L, () -> sc.send("migrate", Qmp.args().put("uri", uri), onMigrate));
                                } else {
                                    fail.accept("source " + e.status() + ": " + error);
                                }
                            });
                            default -> {
                                // setup, device: progress only
                            }
                        }
                    };
                    tc.onEvent = e -> {
                        if (e.event().equals("RESUME")) {
                            vm.targetResumedNs = e.ns();
                            endIfDone.run();
                        } else if (e.event().equals("MIGRATION")) {
                            if (e.status().equals("completed")) {
                                vm.targetCompletedNs = e.ns();
                            } else if (e.status().equals("failed") || e.status().equals("cancelled")) {
                                tc.send("query-migrate", null, q -> fail.accept("target " + e.status() + ": "
                                        + (q.ok() ? q.value().path("error-desc").asText() : q.error())));
                            }
                        }
                    };
                }
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    vms[i].migrateSentNs = System.nanoTime();
                    src[i].send("migrate", Qmp.args().put("uri", uris[i]), onMigrateReply.get(i));
                }
                long issued = System.nanoTime();
                String unfinished = null;
                try {
                    mux.pump(t0 + timeoutNs, () -> open[0] == 0, "the end of " + n + " migrations");
                } catch (Qmp.TimeoutException e) {
                    unfinished = open[0] + " migration(s) not ended within " + o.timeout().toMillis() + " ms";
                }
                long windowEnd = t0;
                int completed = 0;
                List<String> failures = new ArrayList<>();
                for (Vm vm : vms) {
                    if (vm.ended) {
                        completed++;
                        windowEnd = Math.max(windowEnd, vm.endNs());
                    } else if (vm.failure != null && failures.size() < 5) {
                        failures.add(vm.failure);
                    }
                }
                long afterWindow = System.nanoTime();
                phases.put("migrate_window", (windowEnd - t0) / 1e6);
                p0 = afterWindow;
                progress.accept(completed + "/" + n + " migrations ended in " + (windowEnd - t0) / 1_000_000 + " ms; load "
                        + Hop.loadAverage());

                // ---- after the window: the engine's stamps of every ended migration (pipelined query-migrate)
                long[] stopped = new long[n];
                long[] started = new long[n];
                int[] stamps = {0};
                int wanted = 0;
                for (int i = 0; i < n; i++) {
                    if (!vms[i].ended) {
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
                long firstStop = Long.MAX_VALUE;
                long lastStart = 0;
                int unstamped = 0;
                int retries = 0;
                List<long[]> inFlight = new ArrayList<>();
                List<long[]> frozen = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    Vm vm = vms[i];
                    retries += vm.connectRetries;
                    if (vm.migrateReplyNs != 0) {
                        migrateRtt.add((vm.migrateReplyNs - vm.migrateSentNs) / 1e6);
                    }
                    if (!vm.ended) {
                        continue;
                    }
                    if (vm.sourceActiveNs != 0) {
                        toActive.add((vm.sourceActiveNs - t0) / 1e6);
                    }
                    toEnd.add((vm.endNs() - t0) / 1e6);
                    inFlight.add(new long[] {vm.migrateSentNs, vm.endNs()});
                    if (stopped[i] == 0 || started[i] == 0) {
                        unstamped++;
                        continue;
                    }
                    downtimes.add((started[i] - stopped[i]) / 1e6);
                    frozen.add(new long[] {stopped[i], started[i]});
                    firstStop = Math.min(firstStop, stopped[i]);
                    lastStart = Math.max(lastStart, started[i]);
                }
                long rss1 = rssKb(s.pid()) + rssKb(t.pid());
                // the source closes each channel once its 'completed' is in the kernel: let the closes land
                int leaked;
                long settle = System.nanoTime() + 10_000_000_000L;
                while (true) {
                    // a migrated TAP fd is the target's now; one that did not migrate is still the source's
                    leaked = (fds(s.pid()) - srcFds0 - (realTaps - completed)) + (fds(t.pid()) - tgtFds0 - completed);
                    if (leaked <= 0 || System.nanoTime() > settle) {
                        break;
                    }
                    sleep(50);
                }
                phase(phases, "fd_settle", p0);

                out.put("vms", n);
                out.put("real_taps", realTaps);
                out.put("stand_in_fds", 0);
                out.put("completed", completed);
                double seconds = (windowEnd - t0) / 1e9;
                out.put("migrations_per_s", seconds > 0 ? Math.round(completed / seconds * 10) / 10.0 : 0);
                out.put("window_ms", DowntimeBench.round((windowEnd - t0) / 1e6));
                out.put("migrate_commands_ms", DowntimeBench.round((issued - t0) / 1e6));
                // the window on the wall clock, to cut profiles (e.g. --jfr) to it
                long epochMinusMono = System.currentTimeMillis() - System.nanoTime() / 1_000_000;
                ArrayNode w = out.putArray("window_epoch_ms");
                w.add(t0 / 1_000_000 + epochMinusMono);
                w.add(windowEnd / 1_000_000 + epochMinusMono);
                out.put("first_stop_to_last_start_ms", firstStop == Long.MAX_VALUE ? 0
                        : DowntimeBench.round((lastStart - firstStop) / 1e6));
                putPercentiles(out.putObject("downtime_ms"), downtimes);
                putPercentiles(out.putObject("migrate_reply_ms"), migrateRtt);
                putPercentiles(out.putObject("source_active_after_ms"), toActive);
                putPercentiles(out.putObject("ended_after_ms"), toEnd);
                putPercentiles(out.putObject("idle_qmp_rtt_ms"), idleRtt);
                out.put("max_in_flight", maxOverlap(inFlight));
                out.put("max_frozen_at_once", maxOverlap(frozen));
                out.put("connect_retries", retries);
                out.put("unstamped", unstamped);
                out.put("rss_mb_before", rss0 / 1024);
                out.put("rss_mb_after", rss1 / 1024);
                ObjectNode heap = out.putObject("heap_mb");
                heap.set("source", heapInfo(s.pid()));
                heap.set("target", heapInfo(t.pid()));
                out.put("fds_leaked", Math.max(0, leaked));
                ObjectNode ph = out.putObject("phases_ms");
                phases.forEach((k, v) -> ph.put(k, DowntimeBench.round(v)));
                ObjectNode q = out.putObject("bench_qmp");
                q.put("replies", mux.replies);
                q.put("events", mux.events);
                q.put("selects", mux.selects);
                if (unfinished != null) {
                    failures.add(0, unfinished);
                }
                if (!failures.isEmpty()) {
                    ArrayNode f = out.putArray("failures");
                    failures.forEach(f::add);
                }
            } catch (IOException | RuntimeException e) {
                StringBuilder sb = new StringBuilder(e.getMessage() == null ? e.toString() : e.getMessage());
                for (VmmChild c : children) {
                    sb.append("\n--- ").append(c.name).append(" stderr:\n").append(c.stderrTail());
                }
                throw new IOException(sb.toString(), e);
            } finally {
                mux.close();
                for (VmmChild c : children) {
                    c.close();
                }
            }
        }
        out.put("load_average_start", load0);
        out.put("load_average_end", Hop.loadAverage());
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
                ObjectNode netdev = Qmp.args().put("type", "tap").put("id", "net0").put("ifname", "lt" + i).put("queues", 1);
                if (incoming) {
                    netdev.put("incoming-fds", true);
                }
                c.send("netdev_add", netdev, r -> {
                    if (r.ok() && !incoming) {
                        taps[0]++;
                    } else if (!r.ok()) {
                        refused.add(c.name + " netdev_add: " + r.error());
                    }
                    if (++answered[0] == 4) {
                        done.run();
                    }
                });
                c.send("device_add", Qmp.args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                        .put("mac", "52:54:00:12:34:56"), r -> {
                            if (!r.ok()) {
                                refused.add(c.name + " device_add: " + r.error());
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

    /** Waits (bounded, 1 ms naps) until every target's migration socket path exists. */
    private static void awaitPaths(Path dir, int n, long timeoutNs) throws IOException {
        long deadline = System.nanoTime() + timeoutNs;
        for (int i = 0; i < n; i++) {
            Path p = dir.resolve("m" + i + ".sock");
            while (!Files.exists(p)) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("the target did not listen at " + p + " in time");
                }
                sleep(1);
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
        node.put("p50", DowntimeBench.round(p.p50()));
        node.put("p99", DowntimeBench.round(p.p99()));
        node.put("max", DowntimeBench.round(p.max()));
    }

    private static long phase(Map<String, Double> phases, String name, long since) {
        long now = System.nanoTime();
        phases.put(name, (now - since) / 1e6);
        return now;
    }

    static int fds(long pid) {
        String[] l = new java.io.File("/proc/" + pid + "/fd").list();
        return l == null ? -1 : l.length;
    }

    static long rssKb(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1; // the process is gone: reported as -1, not as 0 KB
        }
        return -1;
    }

    /** Used and committed heap in MB from {@code jcmd PID GC.heap_info} (G1 and Serial print "total NK, used NK"). */
    static ObjectNode heapInfo(long pid) {
        ObjectNode h = new ObjectMapper().createObjectNode();
        String line;
        try {
            String s = Netns.run("jcmd", String.valueOf(pid), "GC.heap_info");
            line = s.lines().filter(l -> l.contains("total") && l.contains("used")).findFirst().orElse(null);
        } catch (IOException e) {
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

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

}
