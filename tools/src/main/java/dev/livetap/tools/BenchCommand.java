package dev.livetap.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.testbed.bench.ConcurrentBench;
import dev.livetap.testbed.bench.DowntimeBench;
import dev.livetap.testbed.bench.FunctionalBench;
import dev.livetap.testbed.bench.VmmJvm;
import dev.livetap.tools.BadOptionValue;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap bench}: end-to-end benchmarks between real VMM processes. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "End-to-end benchmarks with real VMM processes and real TAPs in a private network namespace (root).",
        subcommands = {BenchCommand.Downtime.class, BenchCommand.Concurrent.class, BenchCommand.Functional.class})
public final class BenchCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new BadOptionValue("give a benchmark: downtime, concurrent or functional");
    }

    /** The result: one JSON object with {@code --json}, else the few lines of {@code text} (JSON only when asked). */
    static void print(JsonNode result, boolean json, String text) throws Exception {
        System.out.println(json ? new ObjectMapper().writeValueAsString(result) : text);
    }

    static String percentiles(JsonNode p) {
        return p.has("p50") ? "p50 " + p.path("p50").asText() + " ms, p99 " + p.path("p99").asText() + " ms, max "
                + p.path("max").asText() + " ms" : "none measured";
    }

    static String downtimeText(JsonNode r) {
        return "downtime (source's last queue stop -> every target queue reading again, CLOCK_MONOTONIC), " + r.path("queues").asText()
                + " queues, " + r.path("migrations").asText() + " migrations: " + percentiles(r.path("downtime_ms")) + "\n"
                + "bare C hand-off of " + r.path("bare_handoff_ms").path("fds").asText() + " fds: p50 "
                + r.path("bare_handoff_ms").path("p50").asText() + " ms (downtime p50 / bare p50 = " + r.path("ratio_p50").asText()
                + ")\nunmeasured " + r.path("unmeasured_migrations").asText() + ", load " + r.path("load_average_start").asText()
                + " -> " + r.path("load_average_end").asText() + ", wall " + r.path("wall_ms").asText() + " ms (all figures: --json)";
    }

    static String concurrentText(JsonNode r) {
        return r.path("completed").asText() + " of " + r.path("vms").asText() + " VMs migrated, "
                + r.path("migrations_per_s").asText() + " migrations/s, window " + r.path("window_ms").asText() + " ms\n"
                + "downtime: " + percentiles(r.path("downtime_ms")) + "\n"
                + "fds leaked " + r.path("fds_leaked").asText() + ", max in flight " + r.path("max_in_flight").asText()
                + " (all figures: --json)";
    }

    @Command(name = "downtime", mixinStandardHelpOptions = true,
            description = "Switch-over downtime (source's last queue stop -> target's last queue reading, CLOCK_MONOTONIC) "
                    + "over repeated migrations between real VMM processes, against the bare C hand-off of as many fds.")
    static final class Downtime implements Callable<Integer> {
        @Option(names = "--queues", defaultValue = "4", description = "TAP queues (1-256; default ${DEFAULT-VALUE}).")
        int queues;

        @Option(names = "--migrations", defaultValue = "200", description = "Measured migrations: 1-100000, default ${DEFAULT-VALUE}.")
        int migrations;

        @Option(names = "--warmup", defaultValue = "100", description = "Unmeasured migrations first, so that the measured ones run compiled code: 0-100000, default ${DEFAULT-VALUE}.")
        int warmup;

        @Option(names = "--jvm", paramLabel = "livetap|jdk", defaultValue = "livetap",
                description = "JVM options of the VMM children: livetap (those of 'livetap vmm --vms N': C1 only, serial GC, low compile thresholds) or jdk "
                        + "(the JDK's own choice). Default ${DEFAULT-VALUE}.")
        VmmJvm jvm;

        @Option(names = "--jvm-opt", paramLabel = "OPT", description = "Extra option of the VMM child JVMs, after those of --jvm (repeatable).")
        List<String> jvmOptions = new ArrayList<>();

        @Option(names = "--jfr", paramLabel = "DIR", description = "Record JFR (settings=profile) of every VMM child into DIR.")
        java.nio.file.Path jfr;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--queues", queues, 1, 256);
            BadOptionValue.range("--migrations", migrations, 1, 100_000);
            BadOptionValue.range("--warmup", warmup, 0, 100_000);
            List<String> extra = new ArrayList<>(jvmOptions);
            if (jfr != null) {
                java.nio.file.Files.createDirectories(jfr);
                extra.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,filename="
                        + jfr.toAbsolutePath().resolve("vmm-{name}.jfr"));
            }
            // by each process's VMs, as bin/livetap: the source runs one, each target one per hop it receives
            JsonNode r = DowntimeBench.run(new DowntimeBench.Options(queues, migrations, warmup, vms -> jvm.with(vms, extra),
                    Duration.ofSeconds(20), 2000), json ? s -> { } : System.err::println);
            print(r, json, downtimeText(r));
            return 0;
        }
    }

    @Command(name = "concurrent", mixinStandardHelpOptions = true,
            description = "Many VMs migrating at once between one source and one target VMM process (vmm --vms N).")
    static final class Concurrent implements Callable<Integer> {
        @Option(names = "--vms", defaultValue = "100", description = "VMs: 1-4096, default ${DEFAULT-VALUE}.")
        int vms;

        @Option(names = "--jvm", paramLabel = "livetap|jdk", defaultValue = "livetap",
                description = "JVM options of the VMM children: livetap (those of 'livetap vmm --vms N': C1 only, serial GC, low compile thresholds) or jdk "
                        + "(the JDK's own choice). Default ${DEFAULT-VALUE}.")
        VmmJvm jvm;

        @Option(names = "--jvm-opt", paramLabel = "OPT", description = "Extra option of the VMM child JVMs, after those of --jvm (repeatable).")
        List<String> jvmOptions = new ArrayList<>();

        @Option(names = "--warmup", paramLabel = "N",
                description = "VMs migrated at once before the measured batch, unmeasured: 0-4096 (default: as many as --vms, at most 1000).")
        Integer warmup;

        @Option(names = "--in-flight", paramLabel = "K", defaultValue = "0",
                description = "At most K migrations in progress at once, each end starting the next: 0-4096 (default 0: all --vms at once).")
        int inFlight;

        @Option(names = "--setup-width", paramLabel = "N", defaultValue = "16",
                description = "VMs whose set-up commands (netdev_add, device_add, migrate-incoming) run at once: 1-4096, default ${DEFAULT-VALUE}.")
        int setupWidth;

        @Option(names = "--jfr", paramLabel = "DIR",
                description = "Record JFR (settings=profile) of both VMM children; dumped to DIR/vmm-s.jfr, DIR/vmm-t.jfr.")
        java.nio.file.Path jfr;

        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "300",
                description = "Bound of each waiting phase, including the migration window: 1-3600 s, default ${DEFAULT-VALUE}.")
        int timeoutSeconds;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--vms", vms, 1, 4096);
            if (warmup != null) {
                BadOptionValue.range("--warmup", warmup, 0, 4096);
            }
            BadOptionValue.range("--in-flight", inFlight, 0, 4096);
            BadOptionValue.range("--setup-width", setupWidth, 1, 4096);
            BadOptionValue.range("--timeout", timeoutSeconds, 1, 3600);
            if (jfr != null) {
                java.nio.file.Files.createDirectories(jfr);
            }
            int w = warmup != null ? warmup : Math.min(vms, 1000);
            JsonNode r = ConcurrentBench.run(new ConcurrentBench.Options(vms, w, inFlight > 0 ? inFlight : vms, jvm.with(vms, jvmOptions),
                    Duration.ofSeconds(timeoutSeconds), jfr, setupWidth),
                    json ? s -> { } : System.err::println);
            print(r, json, concurrentText(r));
            return 0;
        }
    }

    @Command(name = "functional", mixinStandardHelpOptions = true,
            description = {"The seed's functional test as a table: the guest answers on a multiqueue TAP",
                "in a private namespace, ping -D -O at 1 ms from the namespace, one migration",
                "at a time. Rows: real QEMU with a Linux guest (new-tap: target -S on a new",
                "TAP, network switch, cont), livetap vmm by backend transfer (local) and by",
                "new-tap (the baseline). Per row: frames lost, lost outside the freeze +-10 ms",
                "(the seed's rule: none), the largest ping gap, stop -> resume (source STOP to",
                "target RESUME event timestamps), the VMM's own downtime, total time. Vhost",
                "rows are printed as skipped with the reason. Exit 0 when every row that ran",
                "kept the rule, 1 if not."})
    static final class Functional implements Callable<Integer> {
        @Option(names = "--migrations", defaultValue = "20", description = "Migrations per row: 1-1000, default ${DEFAULT-VALUE}.")
        int migrations;

        @Option(names = "--interval-ms", defaultValue = "1", description = "ping's interval in ms: 0.2-1000, default ${DEFAULT-VALUE}.")
        double intervalMs;

        @Option(names = "--row", paramLabel = "ROW", description = "Run only these rows (repeatable): qemu-new-tap, "
                + "livetap-local, livetap-new-tap. Default: all.")
        List<String> rowNames = new ArrayList<>();

        @Option(names = "--json", description = "Print one JSON object (progress goes to stderr unless --json).")
        boolean json;

        @Option(names = "--save", paramLabel = "FILE", description = "Also write the JSON object to FILE.")
        java.nio.file.Path save;

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--migrations", migrations, 1, 1000);
            BadOptionValue.range("--interval-ms", intervalMs, 0.2, 1000);
            List<FunctionalBench.RowKind> rows = new ArrayList<>();
            for (String name : rowNames) {
                rows.add(row(name));
            }
            FunctionalBench.Options o = FunctionalBench.Options.of(migrations, json ? s -> { } : System.err::println);
            o = new FunctionalBench.Options(migrations, intervalMs, o.settle(), rows.isEmpty() ? o.rows() : rows, o.progress());
            FunctionalBench.Report r = FunctionalBench.run(o);
            if (save != null) {
                java.nio.file.Files.writeString(save, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(r.toJson()) + "\n");
            }
            print(r.toJson(), json, r.format());
            return r.passed() ? ExitCodes.OK : ExitCodes.FAILED;
        }

        static FunctionalBench.RowKind row(String name) {
            for (FunctionalBench.RowKind k : FunctionalBench.RowKind.values()) {
                if (k.label().replace(' ', '-').equals(name)) {
                    return k;
                }
            }
            throw new BadOptionValue("--row must be qemu-new-tap, livetap-local or livetap-new-tap, got " + name);
        }
    }
}
