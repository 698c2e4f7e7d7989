package dev.livetap.tools;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.fleet.bench.FleetBench;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.testbed.NetworkNamespace;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap fleet}: fleet operations (today: the freeze-budget bench on one host). */
@Command(name = "fleet", mixinStandardHelpOptions = true,
        description = "Fleet operations on Pekko Cluster; today the freeze-budget bench of one host (docs/fleet.md).",
        subcommands = {FleetCommand.Bench.class})
public final class FleetCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new BadOptionValue("give a fleet command: bench");
    }

    @Command(name = "bench", mixinStandardHelpOptions = true,
            description = "Rolling replacement of a host's VMM process under a freeze budget: each round starts a new "
                    + "livetap vmm process and migrates every VM into it (real TAPs in a private namespace, root).")
    static final class Bench implements Callable<Integer> {
        @Option(names = "--hosts", defaultValue = "1", description = "Hosts (only 1 is built; default ${DEFAULT-VALUE}).")
        int hosts;

        @Option(names = "--vms-per-host", paramLabel = "N", defaultValue = "100", description = "VMs per host: 1-1000, default ${DEFAULT-VALUE}.")
        int vms;

        @Option(names = "--rounds", paramLabel = "R", defaultValue = "3", description = "Measured rounds (each migrates every VM once): 1-100, default ${DEFAULT-VALUE}.")
        int rounds;

        @Option(names = "--warmup-rounds", paramLabel = "W", defaultValue = "1", description = "Unmeasured rounds first: 0-10, default ${DEFAULT-VALUE}.")
        int warmupRounds;

        @Option(names = "--budget", paramLabel = "K|auto|none", defaultValue = "auto",
                description = "Switch-overs in their freeze window at once: a number, auto (adaptive, steering to "
                        + "--downtime-limit-ms) or none (every driver at once); default ${DEFAULT-VALUE}.")
        String budget;

        @Option(names = "--downtime-limit-ms", paramLabel = "MS", defaultValue = "10", description = "Per-VM downtime limit auto steers by: default ${DEFAULT-VALUE}.")
        double limitMs;

        @Option(names = "--drivers", paramLabel = "D", defaultValue = "64", description = "Migrations driven at once (driver threads): 1-1000, default ${DEFAULT-VALUE}.")
        int drivers;

        @Option(names = "--gate", paramLabel = "around|hold", defaultValue = "around",
                description = "Where the budget applies: around the whole driver run (default), or at the release of a "
                        + "source held in pre-switchover (already frozen while it waits).")
        String gate;

        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "120", description = "Bound of each migration and wait: 1-3600, default ${DEFAULT-VALUE}.")
        int timeoutSeconds;

        @Option(names = "--json", description = "Print one JSON object.")
        boolean json;

        @Override
        public Integer call() throws Exception {
            BadOptionValue.range("--hosts", hosts, 1, 1);
            BadOptionValue.range("--vms-per-host", vms, 1, 1000);
            BadOptionValue.range("--rounds", rounds, 1, 100);
            BadOptionValue.range("--warmup-rounds", warmupRounds, 0, 10);
            BadOptionValue.range("--drivers", drivers, 1, 1000);
            BadOptionValue.range("--timeout", timeoutSeconds, 1, 3600);
            BadOptionValue.range("--downtime-limit-ms", limitMs, 0.001, 100_000);
            FreezeBudget.Settings settings = switch (budget) {
                case "auto" -> FreezeBudget.Settings.adaptive(Math.min(4, vms), Math.max(1, Math.min(drivers, vms)), limitMs);
                case "none" -> FreezeBudget.Settings.fixed(Math.max(1, Math.min(drivers, vms)));
                default -> {
                    int k;
                    try {
                        k = Integer.parseInt(budget);
                    } catch (NumberFormatException e) {
                        throw new BadOptionValue("--budget must be a number, auto or none: " + budget);
                    }
                    yield FreezeBudget.Settings.fixed(BadOptionValue.range("--budget", k, 1, 1000));
                }
            };
            FleetBench.Gate where = switch (gate) {
                case "around" -> FleetBench.Gate.AROUND;
                case "hold" -> FleetBench.Gate.HOLD;
                default -> throw new BadOptionValue("--gate must be around or hold: " + gate);
            };
            Optional<String> missing = NetworkNamespace.unavailabilityCause();
            if (missing.isPresent()) {
                System.err.println("livetap fleet bench: " + missing.get());
                return ExitCodes.UNAVAILABLE;
            }
            JsonNode r = FleetBench.run(new FleetBench.Options(hosts, vms, rounds, warmupRounds, settings, budget, drivers, where,
                    Duration.ofSeconds(timeoutSeconds)), json ? s -> { } : System.err::println);
            BenchCommand.print(r, json, text(r));
            return r.path("failed").asInt() == 0 && r.path("fds_leaked").asInt() == 0 ? ExitCodes.OK : ExitCodes.FAILED;
        }

        static String text(JsonNode r) {
            JsonNode b = r.path("budget");
            return r.path("completed").asText() + " migrations completed (" + r.path("failed").asText() + " failed), "
                    + r.path("migrations_per_s").asText() + " migrations/s\n"
                    + "downtime: " + BenchCommand.percentiles(r.path("downtime_ms")) + "; at most "
                    + r.path("max_frozen_at_once").asText() + " VMs frozen at once\n"
                    + "budget " + b.path("asked").asText() + ": K " + b.path("k_initial").asText() + " -> " + b.path("k_final").asText()
                    + " (" + b.path("adjustments").asText() + " adjustments), fds leaked " + r.path("fds_leaked").asText()
                    + ", wall " + r.path("wall_ms").asText() + " ms (all figures: --json)";
        }
    }
}
