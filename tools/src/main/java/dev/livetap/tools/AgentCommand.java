package dev.livetap.tools;

import dev.livetap.fleet.agent.AgentNode;
import dev.livetap.fleet.budget.FreezeBudget;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code livetap agent}: one host's agent, a member of the fleet cluster (docs/fleet.md). */
@Command(name = "agent", mixinStandardHelpOptions = true,
        description = "Runs a host agent: joins the fleet cluster (role agent, never opens the journal), adopts the "
                + "livetap vmm processes whose QMP sockets and NIC descriptions are in --vmm-dir, and performs the "
                + "coordinator's steps (one new detached VMM process per VM step). TLS with mutual authentication on the "
                + "cluster transport unless --no-tls (see livetap fleet --help). Prints MANAGEMENT URI (Pekko Management, "
                + "read-only, 127.0.0.1) and READY HOST when it serves; runs until SIGTERM/SIGINT (exit 0) or until the cluster "
                + "downs it (exit 1: start it again, it re-adopts its VMMs).")
final class AgentCommand implements Callable<Integer> {
    @Option(names = "--host", required = true, paramLabel = "NAME", description = "The host this agent serves.")
    String host;

    @Option(names = "--seed-nodes", required = true, split = ",", paramLabel = "ADDR",
            description = "Seed nodes: pekko://livetap-fleet@HOST:PORT, comma separated.")
    List<String> seedNodes;

    @Option(names = "--vmm-dir", required = true, paramLabel = "DIR", description = "The agent's state directory: VM.nic, VM[.gN].qmp, agent.ledger.")
    Path vmmDir;

    @Option(names = "--port", defaultValue = "0", description = "Cluster port on 127.0.0.1 (0: any free): default ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--netns", paramLabel = "NS", description = "Start new VMM processes inside this named network namespace (ip netns exec).")
    String netns;

    @Option(names = "--budget", paramLabel = "K|auto", defaultValue = "2",
            description = "Switch-overs in their freeze window at once: a number 1-1000 (fixed), or auto (adaptive: starts at 2,"
                    + " halves when a downtime passes --downtime-limit-ms or the p99 of the last 100 nears it, grows by one"
                    + " while the p99 stays below half of it; 1 to --budget-max); default ${DEFAULT-VALUE}.")
    String budget;

    @Option(names = "--budget-max", paramLabel = "K", defaultValue = "8", description = "The largest K of --budget auto: 1-1000, default ${DEFAULT-VALUE}.")
    int budgetMax;

    @Option(names = "--downtime-limit-ms", paramLabel = "MS", defaultValue = "300",
            description = "Per-VM downtime limit --budget auto steers by (QEMU's default downtime-limit): default ${DEFAULT-VALUE}.")
    double limitMs;

    @Option(names = "--look-ahead", paramLabel = "N|auto|none", defaultValue = "auto",
            description = "Steps in their driver run at once (QMP set-up and the target VMM's start included) beside the K"
                    + " in their freeze window: at most K + N; auto: N = K (following --budget auto); none: not bounded"
                    + " (every migration thread at once); default ${DEFAULT-VALUE}.")
    String lookAhead;

    @Option(names = "--step-timeout", paramLabel = "SECONDS", defaultValue = "60", description = "Bound of one VM step: 1-3600, default ${DEFAULT-VALUE}.")
    int stepTimeout;

    @Option(names = "--vmm-build", paramLabel = "VERSION=LAUNCHER[,stream-format=N]",
            description = "A VMM build a step may start, repeatable: a plan to VERSION starts 'LAUNCHER vmm ...' (another livetap"
                    + " distribution's bin/livetap). This agent's own build is always there, under its version. stream-format"
                    + " declares the stream format the build writes, for builds that do not report x-stream-format (before"
                    + " 2026-12-06); the agent sets it on the source of a rollback (docs/fleet.md, Versions).")
    List<String> vmmBuilds = new ArrayList<>();

    @Option(names = "--vmm-builds-file", paramLabel = "FILE",
            description = "VMM builds from FILE, one VERSION=LAUNCHER[,stream-format=N] a line (# comments), beside --vmm-build;"
                    + " re-read when it changes (a build added or retired without a restart; a change that does not read keeps"
                    + " the builds before, with a warning).")
    java.nio.file.Path vmmBuildsFile;

    @Mixin
    FleetTransportOptions transport;

    @Mixin
    FleetTransportOptions.Management management;

    @Override
    public Integer call() throws Exception {
        BadOptionValue.range("--port", port, 0, 65535);
        FreezeBudget.Settings budgetSettings = budgetSettings();
        java.util.function.Supplier<dev.livetap.fleet.agent.VmmBuilds> builds;
        try {
            if (vmmBuildsFile != null) {
                builds = new dev.livetap.fleet.agent.VmmBuildsFile(vmmBuildsFile, vmmBuilds);
            } else {
                dev.livetap.fleet.agent.VmmBuilds fixed = dev.livetap.fleet.agent.VmmBuilds.of(vmmBuilds);
                builds = () -> fixed;
            }
        } catch (IllegalArgumentException e) {
            throw new BadOptionValue(e.getMessage());
        }
        dev.livetap.fleet.cluster.FleetTls tls = transport.tls();
        int managementPort = management.port();
        BadOptionValue.range("--step-timeout", stepTimeout, 1, 3600);
        if (host.isBlank() || !host.matches("[A-Za-z0-9._-]+")) {
            throw new BadOptionValue("--host must be letters, digits, '.', '_' or '-': " + host);
        }
        List<String> prefix = new ArrayList<>();
        if (netns != null) {
            prefix.addAll(List.of("ip", "netns", "exec", netns));
        }
        CountDownLatch stop = new CountDownLatch(1);
        try (AgentNode agent = AgentNode.start(host, "127.0.0.1", port, seedNodes, vmmDir, prefix, builds,
                budgetSettings, Duration.ofSeconds(stepTimeout), Duration.ofSeconds(60), tls, managementPort)) {
            java.util.concurrent.atomic.AtomicBoolean signalled = new java.util.concurrent.atomic.AtomicBoolean();
            Signals.onTermination(s -> {
                signalled.set(true);
                stop.countDown();
            });
            // an agent the cluster downed (Split Brain Resolver) has a terminated actor system: end, so that a supervisor restarts it
            agent.node().system().getWhenTerminated().thenRun(stop::countDown);
            agent.node().management().ifPresent(uri -> System.out.println("MANAGEMENT " + uri));
            agent.port().unadopted().forEach((vm, why) -> System.err.println("livetap agent: VM " + vm + " not adopted: " + why));
            System.out.println("READY " + host + " " + agent.port().vms().size() + " VM(s) adopted; VMM builds "
                    + String.join(", ", builds.get().versions()));
            System.out.flush();
            stop.await();
            if (!signalled.get()) {
                System.err.println("livetap agent: this agent was removed from the cluster (downed); start it again to rejoin "
                        + "(it re-adopts its VMMs)");
                return ExitCodes.FAILED;
            }
        }
        return ExitCodes.OK;
    }

    private FreezeBudget.Settings budgetSettings() {
        try {
            return budgetSettingsWithoutLookAhead().withLookAhead(FreezeBudget.LookAhead.parse(lookAhead));
        } catch (IllegalArgumentException e) {
            throw new BadOptionValue(e.getMessage());
        }
    }

    private FreezeBudget.Settings budgetSettingsWithoutLookAhead() {
        BadOptionValue.range("--budget-max", budgetMax, 1, 1000);
        if (!(limitMs > 0 && limitMs <= 60_000)) {
            throw new BadOptionValue("--downtime-limit-ms must be above 0 and at most 60000: " + limitMs);
        }
        if (budget.equals("auto")) {
            return FreezeBudget.Settings.adaptive(Math.min(2, budgetMax), budgetMax, limitMs);
        }
        int k;
        try {
            k = Integer.parseInt(budget);
        } catch (NumberFormatException e) {
            throw new BadOptionValue("--budget must be a number 1-1000 or auto: " + budget);
        }
        BadOptionValue.range("--budget", k, 1, 1000);
        return FreezeBudget.Settings.fixed(k);
    }
}
