package dev.livetap.engine.cli;

import dev.livetap.actors.tap.KernelVhostNet;
import dev.livetap.actors.tap.RecordingVhostBackend;
import dev.livetap.engine.api.EngineSettings;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.launch.ChildLaunch;
import dev.livetap.engine.vmm.VmmHost;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code livetap vmm}: a VMM host process with one or more VM endpoints, each on its own QMP socket. */
@Command(name = "vmm", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs VM endpoints, each behind a QMP socket (mode 0600, same uid only).",
            "Prints 'READY <qmp-path>' per VM once its socket listens (after the warm-up).",
            "Stops on 'quit' (per VM; the process ends with its last VM, exit 0) or SIGTERM/SIGINT (exit 130), "
                + "closing every fd and removing every socket."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every VM quit", "1:start failed (e.g. a live process listens on the socket path)",
            "2:bad command line", "130:stopped by SIGTERM/SIGINT, after cleaning up"})
public final class VmmCommand implements Callable<Integer> {
    /**
     * JVM options of a VMM process (the distribution's launcher uses them for {@code livetap vmm}; the
     * demo, chaos and bench children too). On 2 cores C2's compilations and G1's concurrent threads
     * compete with the switch-over for the CPUs: C1 only and the serial collector halved the 4-queue
     * downtime (p50 4.1-4.7 -> 2.3-2.7 ms) and took 1000 concurrent migrations from 680 to 1420 per
     * second (docs/benchmarks.md, "JVM options of the VMM"). Not measured on larger hosts.
     */
    public static final List<String> JVM_OPTIONS = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

    @Spec
    CommandSpec spec;

    @Option(names = "--qmp", paramLabel = "PATH", description = "QMP socket of the (single) VM.")
    Path qmp;

    @Option(names = "--qmp-dir", paramLabel = "DIR", description = "With --vms: QMP sockets DIR/<name><i>.qmp.")
    Path qmpDir;

    @Option(names = "--vms", paramLabel = "N", defaultValue = "1", description = "VM endpoints in this process (1-4096, default ${DEFAULT-VALUE}).")
    int vms;

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "vm", description = "VM name (with --vms: name prefix). Default ${DEFAULT-VALUE}.")
    String name;

    @Option(names = "--incoming", description = "Start as a migration target (QEMU's -incoming defer): run state inmigrate.")
    boolean incoming;

    @Option(names = "--paused", description = "QEMU's -S: stay paused after an incoming migration until 'cont' (else resume by itself).")
    boolean paused;

    @Option(names = "--machine", paramLabel = "TYPE", defaultValue = "q35",
            description = "Machine type (default ${DEFAULT-VALUE} = the latest, backend-transfer on; pc-q35-10.2 and older: off).")
    String machine;

    @Option(names = "--guest-ip", paramLabel = "IPV4", defaultValue = VmSpec.DEFAULT_GUEST_IP,
            description = "Address the guest stand-in answers ARP/ICMP for (default ${DEFAULT-VALUE}; device_add x-guest-ip overrides).")
    String guestIp;

    @Option(names = "--json-log", description = "Log JSON lines on stderr (one object per event).")
    boolean jsonLog;

    @Option(names = "--no-warm-up", description = "Report READY without warming up (the first hand-off is then slower).")
    boolean noWarmUp;

    @Option(names = "--migration-timeout", paramLabel = "SECONDS", defaultValue = "30",
            description = "Limit of each migration wait (connect/accept, return path): 1-3600, default ${DEFAULT-VALUE}.")
    int migrationTimeoutSeconds;

    @Option(names = "--qmp-negotiation-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Disconnect a QMP client that has not sent qmp_capabilities this long after connecting"
                    + " (0: never; 0-3600, default ${DEFAULT-VALUE}).")
    int qmpNegotiationTimeoutSeconds;

    @Option(names = ChildLaunch.DIE_WITH_PARENT_OPTION,
            description = "Stop (as on SIGTERM) when stdin reaches end-of-file: the launcher holds the pipe's only "
                + "write end, so its death ends this VMM. Without it the VMM outlives whoever started it.")
    boolean dieWithParent;

    @Option(names = "--x-fault-vhost-setup", paramLabel = "QUEUE", hidden = true,
            description = "Fault injection: a recording vhost backend whose post_load set-up fails on QUEUE.")
    Integer faultVhostSetup;

    @Override
    public Integer call() throws Exception {
        BadOptionValue.range("--migration-timeout", migrationTimeoutSeconds, 1, 3600);
        BadOptionValue.range("--qmp-negotiation-timeout", qmpNegotiationTimeoutSeconds, 0, 3600);
        if (faultVhostSetup != null) {
            BadOptionValue.range("--x-fault-vhost-setup", faultVhostSetup, 0, 255);
        }
        List<VmmHost.VmPlan> plans = plans();
        EngineSettings settings = EngineSettings.defaults()
                .withTimeouts(new dev.livetap.actors.migration.MigrationTimeouts(Duration.ofSeconds(migrationTimeoutSeconds),
                        Duration.ofSeconds(10), Duration.ofSeconds(Math.max(60, migrationTimeoutSeconds)),
                        Duration.ofSeconds(migrationTimeoutSeconds)))
                .withQmpNegotiationTimeout(Duration.ofSeconds(qmpNegotiationTimeoutSeconds));
        if (faultVhostSetup != null) {
            int q = faultVhostSetup;
            settings = settings.withVhost(() -> new RecordingVhostBackend().failSetUp(q));
        } else {
            settings = settings.withVhost(KernelVhostNet::new);
        }
        CompletableFuture<String> signalled = new CompletableFuture<>();
        Signals.onTermination(signalled::complete);
        if (dieWithParent) {
            watchParent(signalled);
        }
        VmmHost host;
        try {
            host = VmmHost.start(settings, plans, !noWarmUp, System.out);
        } catch (RuntimeException e) {
            System.err.println("livetap vmm: " + e.getMessage());
            return ExitCodes.FAILED;
        }
        Thread hook = new Thread(host::close, "livetap-vmm-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            while (!host.awaitAllStopped(Duration.ofMillis(100))) {
                if (signalled.isDone()) {
                    System.err.println("livetap vmm: " + signalled.getNow("signal") + ", stopping");
                    host.close();
                    return ExitCodes.INTERRUPTED;
                }
            }
            host.close();
            return ExitCodes.OK;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is already exiting: the hook runs (close is idempotent)
            }
        }
    }

    /** Reads stdin to end-of-file on a named daemon thread, then stops the VMM as a signal would. */
    private static void watchParent(CompletableFuture<String> stop) {
        Thread watcher = new Thread(() -> {
            byte[] buf = new byte[256];
            try {
                while (System.in.read(buf) >= 0) {
                    // the launcher writes nothing; whatever arrives is ignored
                }
            } catch (java.io.IOException e) {
                // a broken stdin means the same: the launcher is gone
            }
            stop.complete("the launching process exited (stdin closed, " + ChildLaunch.DIE_WITH_PARENT_OPTION + ")");
        }, "livetap-vmm-parent-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    /** A VmSpec step whose refusal is a bad value of {@code option}. */
    private static VmSpec option(String option, java.util.function.Supplier<VmSpec> step) {
        try {
            return step.get();
        } catch (RuntimeException e) {
            throw new BadOptionValue(option + ": " + e.getMessage());
        }
    }

    List<VmmHost.VmPlan> plans() throws java.io.IOException {
        BadOptionValue.range("--vms", vms, 1, 4096);
        if ((qmp == null) == (qmpDir == null)) {
            throw new ParameterException(spec.commandLine(), "give exactly one of --qmp PATH (one VM) or --qmp-dir DIR");
        }
        if (qmp != null && vms != 1) {
            throw new ParameterException(spec.commandLine(), "--qmp names one socket; use --qmp-dir DIR with --vms " + vms);
        }
        VmSpec base = option("--name", () -> VmSpec.of(vms == 1 ? name : name + "0"));
        VmSpec named = base;
        base = option("--machine", () -> named.machine(machine)).incoming(incoming).paused(paused);
        VmSpec typed = base;
        base = option("--guest-ip", () -> typed.guestIp(guestIp));
        List<VmmHost.VmPlan> plans = new ArrayList<>();
        if (qmp != null) {
            plans.add(new VmmHost.VmPlan(base, qmp));
            return plans;
        }
        Files.createDirectories(qmpDir);
        for (int i = 0; i < vms; i++) {
            String n = vms == 1 && qmpDir == null ? name : name + i;
            plans.add(new VmmHost.VmPlan(new VmSpec(n, base.machine(), incoming, paused, base.guestIp()),
                    qmpDir.resolve(n + ".qmp")));
        }
        return plans;
    }
}
