package dev.livetap.tools;

import dev.livetap.fleet.faults.FaultMatrix;
import dev.livetap.fleet.faults.FaultScenario;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap fleet faults}: issue 18 item 5's multi-node fault matrix, a table of scenario × outcome. */
@Command(name = "faults", mixinStandardHelpOptions = true,
        description = "The multi-node fault matrix (root, /dev/net/tun, PostgreSQL): per scenario 3 coordinator-capable "
                + "node JVMs and 4 host agent JVMs on loopback (plain TCP), each host's livetap vmm processes in a network "
                + "namespace with real 2-queue TAPs, the journal in a throw-away PostgreSQL server; a plan over every host, "
                + "one fault injected mid-plan, then the checks: the plan completes, every VM on exactly one VMM process, "
                + "running, holding its TAP fds, answering ping; the journal agrees with the VMMs' query-migrate and the "
                + "process generation; the fence held in the agents' ledgers; no fd leaked. Exit 0 only when every check "
                + "of every scenario held. Several minutes per scenario on a loaded machine.")
final class FleetFaultsCommand implements Callable<Integer> {
    @Option(names = "--scenario", paramLabel = "NAME", defaultValue = "all", split = ",",
            description = "singleton-kill, singleton-stop, agent-kill, vmm-crash, db-restart, or all (the default); "
                    + "several separated by commas.")
    List<String> scenarios;

    @Option(names = "--vms-per-host", paramLabel = "N", defaultValue = "2", description = "VMs per host: 1-16, default ${DEFAULT-VALUE}.")
    int vmsPerHost;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "240",
            description = "Bound of every start and of the plan after the fault: 30-3600, default ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--json", description = "Print one JSON object (every check and fact of every scenario).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<FaultScenario> chosen = scenarios(scenarios);
        BadOptionValue.range("--vms-per-host", vmsPerHost, 1, 16);
        BadOptionValue.range("--timeout", timeoutSeconds, 30, 3600);
        Optional<String> missing = FaultMatrix.unavailableReason();
        if (missing.isPresent()) {
            System.err.println("livetap fleet faults: " + missing.get());
            return ExitCodes.UNAVAILABLE;
        }
        FaultMatrix.Settings settings = new FaultMatrix.Settings(livetapCommand(), 4, 3, vmsPerHost, Duration.ofSeconds(timeoutSeconds));
        List<FaultMatrix.Outcome> outcomes = FaultMatrix.run(chosen, settings, System.err::println);
        BenchCommand.print(FaultMatrix.toJson(outcomes, settings), json, FaultMatrix.table(outcomes));
        return outcomes.stream().allMatch(FaultMatrix.Outcome::ok) ? ExitCodes.OK : ExitCodes.FAILED;
    }

    static List<FaultScenario> scenarios(List<String> names) {
        List<FaultScenario> chosen = new ArrayList<>();
        for (String n : names) {
            if (n.equals("all")) {
                chosen.addAll(Arrays.asList(FaultScenario.values()));
            } else {
                chosen.add(FaultScenario.byLabel(n).orElseThrow(() -> new BadOptionValue("unknown scenario " + n + ": give one of "
                        + Arrays.stream(FaultScenario.values()).map(FaultScenario::label).toList() + " or all")));
            }
        }
        return chosen.stream().distinct().toList();
    }

    /** {@code livetap} as this JVM runs it: the same java and class path, the CLI's logging on stderr. */
    static List<String> livetapCommand() {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xss1m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dlogback.configurationFile=logback.xml"));
        String jnaTmp = System.getProperty("jna.tmpdir");
        if (jnaTmp != null) {
            cmd.add("-Djna.tmpdir=" + jnaTmp);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LivetapCommand.class.getName()));
        return cmd;
    }
}
