package dev.livetap.testbed.bench;

import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpJson;
import dev.livetap.report.Percentiles;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Switch-over downtime between real VMM processes with a real multiqueue TAP in a private
 * namespace. A process can be a migration target once per VM endpoint (run state inmigrate), so
 * two processes P and Q each hold one {@code --incoming} endpoint per hop and the NIC ping-pongs
 * between them: S.vm → P.p0 → Q.q0 → P.p1 → Q.q1 → … Every target is pre-started and warmed
 * (the VMM's warm-up, then {@code warmup} unmeasured hops); each endpoint is configured just
 * before its hop and quits after it has been the source.
 */
public final class DowntimeBench {
    /** @param jvmOptions extra options of the VMM child JVMs (e.g. JFR) */
    /**
     * @param jvmOptions the JVM options of a VMM process of N VMs (the source runs one VM, each target process one per
     *                   hop it receives: {@code livetap vmm} chooses its options by that count, and so does the bench)
     */
    public record Options(int queues, int migrations, int warmup, IntFunction<List<String>> jvmOptions, Duration hopTimeout,
            int bareIterations) {
    }

    private DowntimeBench() {
    }

    /** Approximate stream size of one NIC with {@code queues} TAP peers (header, section, vmdesc). */
    static int streamBytes(int queues) {
        return 600 + 40 * queues;
    }

    /** One process of {@code n} incoming VMs ({@code --vms N --qmp-dir DIR/NAME}), ready after {@code n} READY lines. */
    private static VmmProcess.Options targets(NetworkNamespace ns, Path dir, String name, int n, List<String> jvmOptions) {
        return VmmProcess.Options.of(dir, name).withQmp(null).withPrefix(ns.wrap(List.of())).withJvmOptions(jvmOptions)
                .withIncoming(true).withReadyLines(n)
                .withArgs(List.of("--vms", String.valueOf(n), "--qmp-dir", dir.resolve(name).toString(), "--name", name));
    }

    /** Writes {@code jstack} of the child next to its log (diagnosis of a stuck hop); returns the path. */
    private static Path dumpThreads(VmmProcess c) {
        Path out = c.log().resolveSibling(c.name() + ".jstack");
        try {
            Files.writeString(out, HostCommand.check(Duration.ofSeconds(20), "jstack", String.valueOf(c.pid())));
        } catch (IOException e) {
            return null;
        }
        return out;
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException {
        if (o.queues() < 1 || o.queues() > 256) {
            throw new IllegalArgumentException("--queues must be 1 to 256");
        }
        int hops = o.migrations() + o.warmup();
        int perSide = (hops + 1) / 2;
        String load0 = loadAverage();
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ltb");
        List<VmmProcess> children = new ArrayList<>();
        List<Double> downtimes = new ArrayList<>();
        List<Double> warm = new ArrayList<>();
        long wall0 = System.nanoTime();
        int unmeasured = 0;
        try (NetworkNamespace ns = NetworkNamespace.create("b")) {
            try {
                VmmProcess s = VmmProcess.start(VmmProcess.Options.of(dir, "s").withPrefix(ns.wrap(List.of()))
                        .withJvmOptions(o.jvmOptions().apply(1)));
                children.add(s);
                VmmProcess p = VmmProcess.start(targets(ns, dir, "p", perSide, o.jvmOptions().apply(perSide)));
                children.add(p);
                VmmProcess q = VmmProcess.start(targets(ns, dir, "q", perSide, o.jvmOptions().apply(perSide)));
                children.add(q);
                Duration ready = Duration.ofSeconds(120);
                s.awaitReady(ready);
                p.awaitReady(ready);
                q.awaitReady(ready);
                progress.accept("processes ready (" + perSide + " target endpoints each); load " + loadAverage());
                Path srcPath = dir.resolve("s.qmp");
                // the bench's own connections close before each migration: only the driver's see its events
                try (QmpClient src = connect(srcPath)) {
                    addNic(src, o.queues(), false);
                }
                for (int h = 0; h < hops; h++) {
                    Path tgtPath = h % 2 == 0 ? dir.resolve("p").resolve("p" + (h / 2) + ".qmp")
                            : dir.resolve("q").resolve("q" + (h / 2) + ".qmp");
                    try (QmpClient tgt = connect(tgtPath)) {
                        addNic(tgt, o.queues(), true);
                    }
                    String uri = "unix:" + dir.resolve("m" + h + ".sock");
                    LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(srcPath, tgtPath).withUri(uri)
                            .withTimeout(o.hopTimeout()), line -> { });
                    if (!r.completed()) {
                        throw new IOException("migration " + r.status() + " (" + r.error() + "): source " + r.sourceInfo()
                                + " target " + r.targetInfo());
                    }
                    if (r.downtimeMs() < 0) {
                        unmeasured++; // a stamp missing: the target did not report its start in time
                    } else {
                        (h < o.warmup() ? warm : downtimes).add(r.downtimeMs());
                    }
                    quit(connect(srcPath));
                    srcPath = tgtPath;
                    if ((h + 1) % 50 == 0) {
                        progress.accept("hop " + (h + 1) + "/" + hops + ": last downtime " + String.format("%.3f", r.downtimeMs())
                                + " ms; load " + loadAverage());
                    }
                }
            } catch (IOException | TimeoutException | RuntimeException e) {
                StringBuilder sb = new StringBuilder(e.getMessage() == null ? e.toString() : e.getMessage());
                for (VmmProcess c : children) {
                    sb.append("\n--- ").append(c.name()).append(" stderr:\n").append(c.tail());
                    sb.append("\n--- threads: ").append(dumpThreads(c));
                }
                throw new IOException(sb.toString(), e);
            } finally {
                for (VmmProcess c : children) {
                    c.close();
                }
            }
        }
        long wallMs = (System.nanoTime() - wall0) / 1_000_000;
        String load1 = loadAverage();
        int bytes = streamBytes(o.queues());
        JsonNode bare = BareHandoff.run(dir, o.queues(), bytes, o.bareIterations());
        deleteTree(dir);
        Percentiles d = Percentiles.of(downtimes);
        ObjectMapper m = new ObjectMapper();
        ObjectNode out = m.createObjectNode();
        out.put("queues", o.queues());
        out.put("migrations", downtimes.size());
        out.put("warmup_migrations", warm.size());
        out.put("unmeasured_migrations", unmeasured);
        ObjectNode dt = out.putObject("downtime_ms");
        dt.put("count", d.count());
        dt.put("p50", round(d.p50()));
        dt.put("p99", round(d.p99()));
        dt.put("max", round(d.max()));
        dt.put("min", round(d.min()));
        ObjectNode bh = out.putObject("bare_handoff_ms");
        bh.put("p50", round(bare.path("p50_us").asDouble() / 1000));
        bh.put("p99", round(bare.path("p99_us").asDouble() / 1000));
        bh.put("fds", bare.path("fds").asInt());
        bh.put("bytes", bare.path("bytes").asInt());
        bh.put("iterations", bare.path("iterations").asInt());
        out.put("ratio_p50", Math.round(d.p50() / (bare.path("p50_us").asDouble() / 1000) * 10) / 10.0);
        out.put("processes", "S -> P -> Q -> P ... (" + perSide + " target endpoints per process)");
        out.put("jvm_options", String.join(" ", o.jvmOptions().apply(1)));
        out.put("jvm_options_targets", String.join(" ", o.jvmOptions().apply(perSide)));
        out.put("load_average_start", load0);
        out.put("load_average_end", load1);
        out.put("wall_ms", wallMs);
        var samples = out.putArray("downtime_samples_ms");
        downtimes.forEach(x -> samples.add(round(x)));
        return out;
    }

    /** {@code quit} bounded to 3 s (a stalled endpoint is left to the process's end). */
    private static void quit(QmpClient q) {
        try {
            q.request("quit", null, List.of(), Duration.ofSeconds(3));
        } catch (TimeoutException | RuntimeException gone) {
            // closed by the endpoint, the process, or the timeout
        } finally {
            q.close();
        }
    }

    /** {@code /proc/loadavg}'s first three fields. */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** A negotiated client whose waits are bounded to 30 s. */
    static QmpClient connect(Path path) throws IOException, TimeoutException {
        QmpClient q = QmpClient.connect(path, Duration.ofSeconds(30));
        try {
            q.negotiate();
        } catch (TimeoutException | RuntimeException e) {
            q.close();
            throw e;
        }
        return q;
    }

    static void addNic(QmpClient q, int queues, boolean incoming) throws TimeoutException {
        ObjectNode netdev = QmpJson.object().put("type", "tap").put("id", "net0").put("ifname", "lt0").put("queues", queues);
        if (incoming) {
            netdev.put("incoming-fds", true).put("script", "no").put("downscript", "no");
        }
        q.execute("netdev_add", netdev);
        q.execute("device_add", QmpJson.object().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                .put("mq", true).put("mac", "52:54:00:12:34:56"));
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }
}
