package dev.livetap.simulation.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap bench}: end-to-end benchmarks between real VMM processes. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "End-to-end benchmarks with real VMM processes and real TAPs in a private network namespace (root).",
        subcommands = {BenchCommand.Downtime.class, BenchCommand.Concurrent.class})
public final class BenchCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.err.println("livetap bench: give a benchmark: downtime | concurrent (see --help)");
        return 2;
    }

    static void print(JsonNode result, boolean json, String text) throws Exception {
        if (json) {
            System.out.println(new ObjectMapper().writeValueAsString(result));
        } else {
            System.out.println(text);
            System.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(result));
        }
    }

    @Command(name = "downtime", mixinStandardHelpOptions = true,
            description = "Switch-over downtime (source's last queue stop -> target's last queue reading, CLOCK_MONOTONIC) "
                    + "over repeated migrations between real VMM processes, against the bare C hand-off of as many fds.")
    static final class Downtime implements Callable<Integer> {
        @Option(names = "--queues", defaultValue = "4", description = "TAP queues (1-256; default ${DEFAULT-VALUE}).")
        int queues;

        @Option(names = "--migrations", defaultValue = "200", description = "Measured migrations (default ${DEFAULT-VALUE}).")
        int migrations;

        @Option(names = "--warmup", defaultValue = "100", description = "Unmeasured migrations first, so that the measured ones run compiled code (default ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--jvm", paramLabel = "livetap|jdk", defaultValue = "livetap",
                description = "JVM options of the VMM children: livetap (those of 'livetap vmm': C1 only, serial GC) or jdk "
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
            if (migrations < 1 || warmup < 0) {
                System.err.println("livetap bench downtime: --migrations must be >= 1 and --warmup >= 0");
                return 2;
            }
            List<String> opts = jvm.with(jvmOptions);
            if (jfr != null) {
                java.nio.file.Files.createDirectories(jfr);
                opts.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,filename="
                        + jfr.toAbsolutePath().resolve("vmm-{name}.jfr"));
            }
            JsonNode r = DowntimeBench.run(new DowntimeBench.Options(queues, migrations, warmup, opts, Duration.ofSeconds(20),
                    2000), json ? s -> { } : System.err::println);
            print(r, json, "");
            return 0;
        }
    }

    @Command(name = "concurrent", mixinStandardHelpOptions = true,
            description = "Many VMs migrating at once between one source and one target VMM process (vmm --vms N).")
    static final class Concurrent implements Callable<Integer> {
        @Option(names = "--vms", defaultValue = "100", description = "VMs (default ${DEFAULT-VALUE}).")
        int vms;

        @Option(names = "--jvm", paramLabel = "livetap|jdk", defaultValue = "livetap",
                description = "JVM options of the VMM children: livetap (those of 'livetap vmm': C1 only, serial GC) or jdk "
                        + "(the JDK's own choice). Default ${DEFAULT-VALUE}.")
        VmmJvm jvm;

        @Option(names = "--jvm-opt", paramLabel = "OPT", description = "Extra option of the VMM child JVMs, after those of --jvm (repeatable).")
        List<String> jvmOptions = new ArrayList<>();

        @Option(names = "--warmup", paramLabel = "N", defaultValue = "-1",
                description = "VMs migrated at once before the measured batch, unmeasured (default: as many as --vms, at most 1000).")
        int warmup;

        @Option(names = "--in-flight", paramLabel = "K", defaultValue = "0",
                description = "At most K migrations in progress at once; each end starts the next (default: all --vms at once).")
        int inFlight;

        @Option(names = "--setup-width", paramLabel = "N", defaultValue = "16",
                description = "VMs whose set-up commands (netdev_add, device_add, migrate-incoming) run at once (default ${DEFAULT-VALUE}).")
        int setupWidth;

        @Option(names = "--jfr", paramLabel = "DIR",
                description = "Record JFR (settings=profile) of both VMM children; dumped to DIR/vmm-s.jfr, DIR/vmm-t.jfr.")
        java.nio.file.Path jfr;

        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "300",
                description = "Bound of each waiting phase, including the migration window (default ${DEFAULT-VALUE}).")
        int timeoutSeconds;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            if (timeoutSeconds < 1) {
                System.err.println("livetap bench concurrent: --timeout must be >= 1");
                return 2;
            }
            if (jfr != null) {
                java.nio.file.Files.createDirectories(jfr);
            }
            int w = warmup >= 0 ? warmup : Math.min(vms, 1000);
            JsonNode r = ConcurrentBench.run(new ConcurrentBench.Options(vms, w, inFlight > 0 ? inFlight : vms, jvm.with(jvmOptions),
                    Duration.ofSeconds(timeoutSeconds), jfr, setupWidth),
                    json ? s -> { } : System.err::println);
            print(r, json, "");
            return 0;
        }
    }
}
