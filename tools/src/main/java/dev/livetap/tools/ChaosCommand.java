package dev.livetap.tools;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.testbed.chaos.ChaosRunner;
import dev.livetap.testbed.HostCommand;
import dev.livetap.tools.BadOptionValue;
import dev.livetap.tools.ExitCodes;
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
        ObjectNode o = Json.MAPPER.createObjectNode();
        long violations = runs.stream().filter(r -> !r.violations().isEmpty()).count();
        o.put("seed", seed).put("runs", runs.size()).put("queues", queues).put("real_tap", true).put("violations", violations);
        o.put("fds_leaked", runs.stream().mapToInt(ChaosRunner.Run::fdsLeaked).sum());
        ObjectNode perFault = o.putObject("per_fault");
        for (Map.Entry<String, Map<String, Integer>> e : ChaosRunner.perFault(runs).entrySet()) {
            ObjectNode counts = perFault.putObject(e.getKey());
            e.getValue().forEach(counts::put);
        }
        ArrayNode violationList = o.putArray("violation_list");
        for (ChaosRunner.Run r : runs) {
            for (String v : r.violations()) {
                violationList.addObject().put("run", r.index()).put("seed", r.seed()).put("fault", r.fault().id()).put("message", v)
                        .put("reproduce", reproduce(r.seed(), faultsArg));
            }
        }
        o.putObject("ping").put("transmitted", runs.stream().mapToLong(ChaosRunner.Run::pingTransmitted).sum())
                .put("received", runs.stream().mapToLong(ChaosRunner.Run::pingReceived).sum());
        ArrayNode runList = o.putArray("run_list");
        for (ChaosRunner.Run r : runs) {
            runList.addObject().put("run", r.index()).put("seed", r.seed()).put("fault", r.fault().id()).put("at", r.moment())
                    .put("phase", r.phase()).put("outcome", r.outcome()).put("owner", r.owner()).put("fds_leaked", r.fdsLeaked())
                    .put("wall_ms", r.wallMs()).put("detail", r.detail());
        }
        o.put("elapsed_ms", elapsedMs);
        return Json.write(o);
    }
}
