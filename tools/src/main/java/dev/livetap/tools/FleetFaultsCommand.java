package dev.livetap.tools;

import dev.livetap.fleet.faults.FaultMatrix;
import dev.livetap.fleet.faults.FaultScenario;
import dev.livetap.testbed.HostCommand;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap fleet faults}: issue 18 item 5's multi-node fault matrix, a table of scenario × outcome. */
@Command(name = "faults", mixinStandardHelpOptions = true,
        description = "The multi-node fault matrix (root, /dev/net/tun, PostgreSQL): per scenario 3 coordinator-capable "
                + "node JVMs and 4 host agent JVMs on loopback (plain TCP, or mutual TLS with --tls), each host's livetap vmm processes in a network "
                + "namespace with real 2-queue TAPs, the journal in a throw-away PostgreSQL server; a plan over every host, "
                + "one fault (or two at once) injected mid-plan, then the checks: the plan completes, every VM on exactly one VMM process, "
                + "running, holding its TAP fds, answering ping; the journal agrees with the VMMs' query-migrate and the "
                + "process generation; the fence held in the agents' ledgers; no fd leaked. Exit 0 only when every check "
                + "of every scenario held. Several minutes per scenario on a loaded machine.")
final class FleetFaultsCommand implements Callable<Integer> {
    @Option(names = "--scenario", paramLabel = "NAME", defaultValue = "all", split = ",",
            description = "singleton-kill, singleton-stop, agent-kill, vmm-crash, db-restart, vmm-crash-switchover, "
                    + "agent-singleton-kill, db-agent-kill, or all (the default); "
                    + "several separated by commas.")
    List<String> scenarios;

    @Option(names = "--vms-per-host", paramLabel = "N", defaultValue = "2", description = "VMs per host: 1-16, default ${DEFAULT-VALUE}.")
    int vmsPerHost;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "240",
            description = "Bound of every start and of the plan after the fault: 30-3600, default ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--json", description = "Print one JSON object (every check and fact of every scenario).")
    boolean json;

    @Option(names = "--tls", description = "Every member (nodes, agents, this runner's operator member) on mutual TLS: a CA "
            + "and one certificate per member made for this run with scripts/fleet-certs (beside the distribution or in the "
            + "working directory), deleted at the end. Default: plain TCP on loopback.")
    boolean tls;

    @Option(names = "--tls-certs", paramLabel = "DIR", description = "As --tls with the certificates of DIR, made by "
            + "scripts/fleet-certs DIR n1 n2 n3 h1 h2 h3 h4 operator.")
    Path tlsCerts;

    @Override
    public Integer call() throws Exception {
        List<FaultScenario> chosen = scenarios(scenarios);
        BadOptionValue.range("--vms-per-host", vmsPerHost, 1, 16);
        BadOptionValue.range("--timeout", timeoutSeconds, 30, 3600);
        if (tls && tlsCerts != null) {
            throw new BadOptionValue("give --tls (certificates made for the run) or --tls-certs DIR, not both");
        }
        FaultMatrix.Settings plain = new FaultMatrix.Settings(livetapCommand(), 4, 3, vmsPerHost, Duration.ofSeconds(timeoutSeconds));
        if (tlsCerts != null) {
            for (String member : plain.memberNames()) {
                if (!Files.isRegularFile(tlsCerts.resolve(member).resolve("node.p12"))) {
                    throw new BadOptionValue("--tls-certs " + tlsCerts + ": no " + tlsCerts.resolve(member).resolve("node.p12")
                            + " (make them with scripts/fleet-certs " + tlsCerts + " " + String.join(" ", plain.memberNames()) + ")");
                }
            }
        }
        Optional<String> missing = FaultMatrix.unavailableReason();
        if (missing.isPresent()) {
            System.err.println("livetap fleet faults: " + missing.get());
            return ExitCodes.UNAVAILABLE;
        }
        Path made = null;
        try {
            Path certs = tlsCerts;
            if (tls) {
                made = Files.createTempDirectory("ltfx-certs", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
                certs = made.resolve("certs");
                makeCertificates(certs, plain.memberNames());
            }
            FaultMatrix.Settings settings = new FaultMatrix.Settings(plain.livetap(), plain.hosts(), plain.nodes(), plain.vmsPerHost(),
                    plain.timeout(), certs);
            List<FaultMatrix.Outcome> outcomes = FaultMatrix.run(chosen, settings, System.err::println);
            BenchCommand.print(FaultMatrix.toJson(outcomes, settings), json, FaultMatrix.table(outcomes));
            return outcomes.stream().allMatch(FaultMatrix.Outcome::ok) ? ExitCodes.OK : ExitCodes.FAILED;
        } finally {
            if (made != null) {
                deleteTree(made);
            }
        }
    }

    /** {@code scripts/fleet-certs certs names...} with this JVM's keytool first on the PATH (bounded: 5 minutes). */
    static void makeCertificates(Path certs, List<String> names) throws IOException, InterruptedException {
        Path script = certScript().orElseThrow(() -> new IOException("scripts/fleet-certs not found (neither beside the "
                + "distribution nor in the working directory): give --tls-certs DIR instead"));
        List<String> cmd = new ArrayList<>(List.of(script.toString(), certs.toString()));
        cmd.addAll(names);
        Path log = Files.createTempFile("livetap-fleet-certs", ".log");
        try {
            HostCommand.Result r = HostCommand.runLogged(Duration.ofMinutes(5), cmd, null,
                    Map.of("PATH", Path.of(System.getProperty("java.home"), "bin") + ":" + System.getenv().getOrDefault("PATH", "")), log);
            if (!r.ok()) {
                throw new IOException("scripts/fleet-certs failed (exit " + r.exitCode() + "): "
                        + Files.readString(log, StandardCharsets.UTF_8).strip());
            }
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** {@code scripts/fleet-certs}: in the working directory, or in a directory above this command's class path entry. */
    static Optional<Path> certScript() {
        List<Path> roots = new ArrayList<>(List.of(Path.of("").toAbsolutePath()));
        try {
            roots.add(Path.of(FleetFaultsCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
        } catch (java.net.URISyntaxException | RuntimeException e) {
            // no code source: the working directory alone
        }
        for (Path root : roots) {
            for (Path d = root; d != null; d = d.getParent()) {
                Path script = d.resolve("scripts").resolve("fleet-certs");
                if (Files.isExecutable(script)) {
                    return Optional.of(script);
                }
            }
        }
        return Optional.empty();
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
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
