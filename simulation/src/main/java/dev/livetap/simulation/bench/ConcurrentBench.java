package dev.livetap.simulation.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.report.Percentiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Many VMs migrating at once between one source and one target VMM process ({@code vmm --vms N}):
 * every VM has a real single-queue TAP ({@code lt<i>}) in a private namespace; all targets listen,
 * then every source is told to migrate, then the bench waits for each target's RESUME. Reports
 * throughput, downtime percentiles, the processes' memory and the fds left behind.
 */
public final class ConcurrentBench {
    public record Options(int vms, List<String> jvmOptions, Duration timeout) {
    }

    private ConcurrentBench() {
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException {
        if (o.vms() < 1 || o.vms() > 4096) {
            throw new IllegalArgumentException("--vms must be 1 to 4096");
        }
        int n = o.vms();
        String load0 = Hop.loadAverage();
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltc");
        List<VmmChild> children = new ArrayList<>();
        List<Qmp> clients = new ArrayList<>();
        ObjectNode out = new ObjectMapper().createObjectNode();
        long wall0 = System.nanoTime();
        try (Netns ns = Netns.create()) {
            try {
                // every target listens from its migrate-incoming until the bench reaches it: scale the waits with n
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
                progress.accept(n + " + " + n + " endpoints ready; load " + Hop.loadAverage());
                Qmp[] src = new Qmp[n];
                Qmp[] tgt = new Qmp[n];
                for (int i = 0; i < n; i++) {
                    src[i] = Qmp.connect(dir.resolve("s").resolve("s" + i + ".qmp"));
                    clients.add(src[i]);
                    tgt[i] = Qmp.connect(dir.resolve("t").resolve("t" + i + ".qmp"));
                    clients.add(tgt[i]);
                }
                int srcFds0 = fds(s.pid());
                int tgtFds0 = fds(t.pid());
                int realTaps = 0;
                String tapLimit = null;
                for (int i = 0; i < n; i++) {
                    try {
                        addNic(src[i], "lt" + i, false);
                        realTaps++;
                    } catch (IOException e) {
                        tapLimit = "TAP " + i + ": " + e.getMessage();
                        break;
                    }
                    addNic(tgt[i], "lt" + i, true);
                }
                if (realTaps < n) {
                    throw new IOException("only " + realTaps + " real TAPs could be opened (" + tapLimit + "); stand-in fds "
                            + "need netdev_add fd=, which this build lacks");
                }
                long rss0 = rssKb(s.pid()) + rssKb(t.pid());
                for (int i = 0; i < n; i++) {
                    Hop.prepareTarget(tgt[i], "unix:" + dir.resolve("m" + i + ".sock"), o.timeout());
                    tgt[i].clearEvents();
                    src[i].execute("migrate-set-parameters", Qmp.args().put("local", true));
                    src[i].clearEvents();
                }
                progress.accept(n + " targets listening; migrating all; load " + Hop.loadAverage());
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    src[i].execute("migrate", Qmp.args().put("uri", "unix:" + dir.resolve("m" + i + ".sock")));
                }
                for (int i = 0; i < n; i++) {
                    Hop.awaitConnected(src[i], "unix:" + dir.resolve("m" + i + ".sock"), o.timeout());
                }
                long issued = System.nanoTime();
                List<Double> downtimes = new ArrayList<>();
                long firstStop = Long.MAX_VALUE;
                long lastStart = 0;
                int completed = 0;
                List<String> failures = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    try {
                        Hop.Result r = Hop.finish(src[i], tgt[i], o.timeout());
                        downtimes.add(r.downtimeMs());
                        firstStop = Math.min(firstStop, r.stoppedNs());
                        lastStart = Math.max(lastStart, r.startedNs());
                        completed++;
                    } catch (IOException e) {
                        if (failures.size() < 5) {
                            failures.add("vm " + i + ": " + e.getMessage());
                        }
                    }
                }
                long t1 = System.nanoTime();
                long rss1 = rssKb(s.pid()) + rssKb(t.pid());
                // the source closes each channel once its 'completed' is in the kernel: let the closes land
                int leaked = 0;
                long settle = System.nanoTime() + 10_000_000_000L;
                while (true) {
                    leaked = (fds(s.pid()) - srcFds0) + (fds(t.pid()) - tgtFds0 - realTaps);
                    if (leaked <= 0 || System.nanoTime() > settle) {
                        break;
                    }
                    sleep(50);
                }
                Percentiles d = downtimes.isEmpty() ? Percentiles.of(0.0) : Percentiles.of(downtimes);
                out.put("vms", n);
                out.put("real_taps", realTaps);
                out.put("stand_in_fds", 0);
                out.put("completed", completed);
                double seconds = (t1 - t0) / 1e9;
                out.put("migrations_per_s", Math.round(completed / seconds * 10) / 10.0);
                out.put("all_migrated_ms", DowntimeBench.round((t1 - t0) / 1e6));
                out.put("migrate_commands_ms", DowntimeBench.round((issued - t0) / 1e6));
                out.put("first_stop_to_last_start_ms", DowntimeBench.round((lastStart - firstStop) / 1e6));
                ObjectNode dt = out.putObject("downtime_ms");
                dt.put("p50", DowntimeBench.round(d.p50()));
                dt.put("p99", DowntimeBench.round(d.p99()));
                dt.put("max", DowntimeBench.round(d.max()));
                out.put("rss_mb_before", rss0 / 1024);
                out.put("rss_mb_after", rss1 / 1024);
                out.put("heap", heapInfo(s.pid()) + " | " + heapInfo(t.pid()));
                out.put("fds_leaked", Math.max(0, leaked));
                if (!failures.isEmpty()) {
                    var f = out.putArray("failures");
                    failures.forEach(f::add);
                }
            } catch (IOException | RuntimeException e) {
                StringBuilder sb = new StringBuilder(e.getMessage() == null ? e.toString() : e.getMessage());
                for (VmmChild c : children) {
                    sb.append("\n--- ").append(c.name).append(" stderr:\n").append(c.stderrTail());
                }
                throw new IOException(sb.toString(), e);
            } finally {
                clients.forEach(Qmp::close);
                for (VmmChild c : children) {
                    c.close();
                }
            }
        }
        out.put("load_average_start", load0);
        out.put("load_average_end", Hop.loadAverage());
        out.put("qmp_stalls_recovered", Qmp.STALLS.get());
        out.put("wall_ms", (System.nanoTime() - wall0) / 1_000_000);
        out.put("jvm_options", String.join(" ", o.jvmOptions()));
        DowntimeBench.deleteTree(dir);
        return out;
    }

    static void addNic(Qmp q, String ifname, boolean incoming) throws IOException {
        ObjectNode netdev = Qmp.args().put("type", "tap").put("id", "net0").put("ifname", ifname).put("queues", 1);
        if (incoming) {
            netdev.put("incoming-fds", true);
        }
        q.execute("netdev_add", netdev);
        q.execute("device_add", Qmp.args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                .put("mac", "52:54:00:12:34:56"));
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
        } catch (IOException | NumberFormatException ignored) {
            // gone
        }
        return 0;
    }

    /** The JVM's heap line from {@code jcmd PID GC.heap_info} (best effort). */
    static String heapInfo(long pid) {
        try {
            String s = Netns.run("jcmd", String.valueOf(pid), "GC.heap_info");
            return s.lines().filter(l -> l.contains("total") && l.contains("used")).findFirst().orElse("?").trim();
        } catch (IOException e) {
            return "unavailable";
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
