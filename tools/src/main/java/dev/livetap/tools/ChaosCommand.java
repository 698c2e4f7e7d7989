package dev.livetap.tools;

import dev.livetap.testbed.chaos.ChaosRunner;
import dev.livetap.testbed.HostCommand;
import dev.livetap.tools.BadOptionValue;
import dev.livetap.tools.ExitCodes;
import dev.livetap.tools.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap chaos}: real VMM processes, a real TAP, real signals; see {@link ChaosRunner}. */
@Command(name = "chaos", mixinStandardHelpOptions = true,
        description = "Migrates between real VMM processes in a private namespace (livetap-chaos<pid>) over a real multiqueue TAP"
                + " with ping traffic, injecting one real fault per run (SIGKILL source/target, SIGSTOP target past the timeout,"
                + " dropped migration socket), then checks that the TAP's owner by the rules answers ping and no process leaked an fd.")
public final class ChaosCommand implements Callable<Integer> {
    @Option(names = "--runs", defaultValue = "10", description = "Runs (1-10000, default ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--seed", description = "Batch seed (default: from the clock; printed as SEED=).")
    Long seed;

    @Option(names = "--queues", defaultValue = "4", description = "TAP queues (1-64, default ${DEFAULT-VALUE}).")
    int queues;

    @Option(names = "--migration-timeout", paramLabel = "SECONDS", defaultValue = "2",
            description = "The VMMs' migration timeout, 1-60 (default ${DEFAULT-VALUE}); SIGSTOP lasts this plus 0.5 s.")
    int timeoutS;

    @Option(names = "--faults", split = ",", paramLabel = "FAULT",
            description = "Only these faults (comma-separated: kill_source, kill_target, stop_target, drop_socket; default all)."
                    + " A seed picks the same fault only with the same list.")
    List<String> faults;

    @Option(names = "--max-delay-ms", paramLabel = "MS", defaultValue = "60",
            description = "Upper bound of the fault's delay after migrate, 0-10000 (default ${DEFAULT-VALUE}; a seed picks the same moment"
                    + " only with the same bound).")
    int maxDelayMs;

    @Option(names = "--keep-logs", description = "Keep every run's VMM logs (in $LIVETAP_STATE_DIR/chaos-logs; by default"
            + " only those of runs with a violation).")
    boolean keepLogs;

    @Option(names = "--json", description = "Print one JSON object (progress lines go to stderr).")
    boolean json;

    @Override
    public Integer call() {
        BadOptionValue.range("--runs", runs, 1, 10_000);
        BadOptionValue.range("--queues", queues, 1, 64);
        BadOptionValue.range("--migration-timeout", timeoutS, 1, 60);
        BadOptionValue.range("--max-delay-ms", maxDelayMs, 0, 10_000);
        List<ChaosRunner.ChaosFault> pool = new java.util.ArrayList<>();
        for (String f : faults == null ? List.<String>of() : faults) {
            ChaosRunner.ChaosFault match = null;
            for (ChaosRunner.ChaosFault c : ChaosRunner.ChaosFault.values()) {
                if (c.id().equals(f.trim())) {
                    match = c;
                }
            }
            if (match == null) {
                throw new BadOptionValue("--faults: unknown fault '" + f + "' (known: kill_source, kill_target, stop_target, drop_socket)");
            }
            pool.add(match);
        }
        if (pool.isEmpty()) {
            pool.addAll(List.of(ChaosRunner.ChaosFault.values()));
        }
        String why = whyUnavailable();
        if (why != null) {
            System.err.println("livetap chaos: needs real TAPs: " + why);
            return ExitCodes.UNAVAILABLE;
        }
        String faultsArg = (faults == null ? "" : " --faults " + String.join(",", pool.stream().map(ChaosRunner.ChaosFault::id).toList()))
                + (maxDelayMs == 60 ? "" : " --max-delay-ms " + maxDelayMs);
        long s = seed != null ? seed : System.nanoTime();
        System.err.println("SEED=" + s + " runs=" + runs + " queues=" + queues + " migration_timeout_s=" + timeoutS
                + (faults == null ? "" : " faults=" + String.join(",", pool.stream().map(ChaosRunner.ChaosFault::id).toList())));
        long t0 = System.nanoTime();
        List<ChaosRunner.Run> result;
        try (ChaosRunner runner = ChaosRunner.open(new ChaosRunner.Options(s, runs, queues, timeoutS, pool, keepLogs, maxDelayMs * 1000), System.err::println)) {
            Thread hook = new Thread(runner::close, "livetap-chaos-cleanup");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                result = runner.runAll(r -> {
                    System.err.printf("run %d seed=%d fault=%s at=%s phase=%s outcome=%s owner=%s fds_leaked=%d %d ms%s%n", r.index(),
                            r.seed(), r.fault().id(), r.moment(), r.phase(), r.outcome(), r.owner(), r.fdsLeaked(), r.wallMs(),
                            r.violations().isEmpty() ? "" : " VIOLATION " + r.violations() + "\n  reproduce: " + reproduce(r.seed(), faultsArg));
                });
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException exiting) {
                    // the hook runs anyway
                }
            }
        } catch (Exception e) {
            System.err.println("livetap chaos: " + e);
            e.printStackTrace();
            return ExitCodes.FAILED;
        }
        long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
        String out = toJson(s, queues, result, elapsedMs, faultsArg);
        if (json) {
            System.out.println(out);
        } else {
            long bad = result.stream().filter(r -> !r.violations().isEmpty()).count();
            System.out.println("runs=" + result.size() + " violations=" + bad + " fds_leaked="
                    + result.stream().mapToInt(ChaosRunner.Run::fdsLeaked).sum() + " elapsed_ms=" + elapsedMs);
            System.out.println("outcomes per fault: " + ChaosRunner.perFault(result));
        }
        return result.stream().allMatch(r -> r.violations().isEmpty()) ? ExitCodes.OK : ExitCodes.FAILED;
    }

    /** Why real TAPs cannot be used here, or null. */
    static String whyUnavailable() {
        if (!Files.exists(Path.of("/dev/net/tun"))) {
            return "/dev/net/tun is missing";
        }
        if (!HostCommand.run(java.time.Duration.ofSeconds(5), List.of("ip", "-V")).ok()) {
            return "iproute2's ip is not installed";
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            return "ip netns needs root";
        }
        return null;
    }

    /** The command line that repeats one run's fault and moment ({@code faultsArg}: " --faults …" or ""). */
    static String reproduce(long runSeed, String faultsArg) {
        return "./livetap chaos --seed " + runSeed + " --runs 1" + faultsArg;
    }

    public static String toJson(long seed, int queues, List<ChaosRunner.Run> runs, long elapsedMs) {
        return toJson(seed, queues, runs, elapsedMs, "");
    }

    public static String toJson(long seed, int queues, List<ChaosRunner.Run> runs, long elapsedMs, String faultsArg) {
        StringBuilder s = new StringBuilder("{");
        long violations = runs.stream().filter(r -> !r.violations().isEmpty()).count();
        s.append("\"seed\": ").append(seed).append(", \"runs\": ").append(runs.size()).append(", \"queues\": ").append(queues);
        s.append(", \"real_tap\": true, \"violations\": ").append(violations);
        s.append(", \"fds_leaked\": ").append(runs.stream().mapToInt(ChaosRunner.Run::fdsLeaked).sum());
        s.append(", \"per_fault\": {");
        int i = 0;
        for (Map.Entry<String, Map<String, Integer>> e : ChaosRunner.perFault(runs).entrySet()) {
            s.append(i++ > 0 ? ", " : "").append(Json.quote(e.getKey())).append(": {");
            int j = 0;
            for (Map.Entry<String, Integer> c : e.getValue().entrySet()) {
                s.append(j++ > 0 ? ", " : "").append(Json.quote(c.getKey())).append(": ").append(c.getValue());
            }
            s.append('}');
        }
        s.append("}, \"violation_list\": [");
        i = 0;
        for (ChaosRunner.Run r : runs) {
            for (String v : r.violations()) {
                s.append(i++ > 0 ? ", " : "").append("{\"run\": ").append(r.index()).append(", \"seed\": ").append(r.seed())
                        .append(", \"fault\": ").append(Json.quote(r.fault().id())).append(", \"message\": ").append(Json.quote(v))
                        .append(", \"reproduce\": ").append(Json.quote(reproduce(r.seed(), faultsArg))).append('}');
            }
        }
        long tx = runs.stream().mapToLong(ChaosRunner.Run::pingTransmitted).sum();
        long rx = runs.stream().mapToLong(ChaosRunner.Run::pingReceived).sum();
        s.append("], \"ping\": {\"transmitted\": ").append(tx).append(", \"received\": ").append(rx).append('}');
        s.append(", \"run_list\": [");
        i = 0;
        for (ChaosRunner.Run r : runs) {
            s.append(i++ > 0 ? ", " : "").append("{\"run\": ").append(r.index()).append(", \"seed\": ").append(r.seed())
                    .append(", \"fault\": ").append(Json.quote(r.fault().id())).append(", \"at\": ").append(Json.quote(r.moment()))
                    .append(", \"phase\": ").append(Json.quote(r.phase())).append(", \"outcome\": ").append(Json.quote(r.outcome()))
                    .append(", \"owner\": ").append(Json.quote(r.owner())).append(", \"fds_leaked\": ").append(r.fdsLeaked())
                    .append(", \"wall_ms\": ").append(r.wallMs()).append(", \"detail\": ").append(Json.quote(r.detail())).append('}');
        }
        s.append("], \"elapsed_ms\": ").append(elapsedMs);
        return s.append('}').toString();
    }
}
