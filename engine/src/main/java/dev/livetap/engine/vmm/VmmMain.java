package dev.livetap.engine.vmm;

import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.tap.KernelVhostNet;
import dev.livetap.actors.tap.VhostSetUpFault;
import dev.livetap.engine.internal.EngineSettings;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The VMM process's entry point ({@code livetap vmm}): parses {@link VmmArguments}, runs a
 * {@link VmmServer} until its last VM quits or SIGTERM/SIGINT. Loads no command-line library and
 * no harness, so a VMM child starts with the engine alone.
 */
public final class VmmMain {
    /** Every VM quit. */
    public static final int OK = 0;
    /** The start failed, or a VM ended because its incoming migration failed (exit-on-error, as QEMU exits 1). */
    public static final int FAILED = 1;
    /** Bad command line. */
    public static final int USAGE = 2;
    /** Stopped by SIGTERM/SIGINT after cleaning up. */
    public static final int INTERRUPTED = 130;

    private VmmMain() {
    }

    /** {@code java ... dev.livetap.engine.vmm.VmmMain [vmm] OPTIONS}: runs and exits with the documented code. */
    public static void main(String[] args) {
        List<String> list = Arrays.asList(args);
        if (!list.isEmpty() && list.get(0).equals("vmm")) {
            list = list.subList(1, list.size());
        }
        configureLogging(list);
        System.exit(run(list));
    }

    /** Runs the VMM with {@code args} (without the word {@code vmm}); returns the exit code. */
    public static int run(List<String> args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        VmmArguments a;
        List<VmmServer.VmPlan> plans;
        try {
            a = VmmArguments.parse(args);
            if (a.help()) {
                out.print(VmmArguments.USAGE);
                out.flush();
                return OK;
            }
            if (a.version()) {
                String v = VmmMain.class.getPackage().getImplementationVersion();
                out.println("livetap " + (v == null ? "0.2.0" : v));
                out.flush();
                return OK;
            }
            plans = a.plans();
        } catch (VmmArguments.BadArguments e) {
            err.println("livetap vmm: " + e.getMessage().strip().replaceAll("\\s*\\R\\s*", "; ") + " (see 'livetap vmm --help')");
            err.flush();
            return USAGE;
        } catch (java.io.IOException e) {
            err.println("livetap vmm: " + e.getMessage());
            return FAILED;
        }
        int timeout = a.migrationTimeoutSeconds();
        EngineSettings settings = EngineSettings.defaults()
                .withTimeouts(new MigrationTimeouts(Duration.ofSeconds(timeout), Duration.ofSeconds(10),
                        Duration.ofSeconds(Math.max(60, timeout)), Duration.ofSeconds(timeout)))
                .withQmpNegotiationTimeout(Duration.ofSeconds(a.qmpNegotiationTimeoutSeconds()));
        if (a.faultVhostSetup() != null) {
            int q = a.faultVhostSetup();
            // the fault's double is a plug-in (the simulation module's): the library ships none
            VhostSetUpFault fault = ServiceLoader.load(VhostSetUpFault.class).findFirst().orElse(null);
            if (fault == null) {
                err.println("livetap vmm: --x-fault-vhost-setup needs a fault plug-in on the class path (the livetap-simulation"
                        + " jar); none found");
                return USAGE;
            }
            settings = settings.withVhost(() -> fault.failingSetUp(q));
        } else {
            settings = settings.withVhost(KernelVhostNet::new);
        }
        MetricsEndpoint metrics = null;
        if (a.metricsPort() != null) {
            try {
                metrics = MetricsEndpoint.start(a.metricsPort());
            } catch (java.io.IOException | RuntimeException e) {
                err.println("livetap vmm: --metrics-port " + a.metricsPort() + ": " + e.getMessage());
                return FAILED;
            } catch (NoClassDefFoundError e) { // an optional dependency of the engine; the distribution has it
                err.println("livetap vmm: --metrics-port needs micrometer-registry-prometheus on the class path ("
                        + e.getMessage() + ")");
                return FAILED;
            }
            settings = settings.withMeterRegistry(metrics.registry());
        }
        try {
            return serve(a, settings, plans, out, err);
        } finally {
            if (metrics != null) {
                metrics.close();
            }
        }
    }

    private static int serve(VmmArguments a, EngineSettings settings, List<VmmServer.VmPlan> plans, PrintStream out,
            PrintStream err) {
        CompletableFuture<String> signalled = new CompletableFuture<>();
        onTermination(signalled::complete);
        if (a.dieWithParent()) {
            watchParent(signalled);
        }
        VmmServer host;
        try {
            host = VmmServer.start(settings, plans, !a.noWarmUp(), out);
        } catch (RuntimeException e) {
            err.println("livetap vmm: " + e.getMessage());
            return FAILED;
        }
        Thread hook = new Thread(host::close, "livetap-vmm-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            while (!host.awaitAllStopped(Duration.ofMillis(100))) {
                if (signalled.isDone()) {
                    err.println("livetap vmm: " + signalled.getNow("signal") + ", stopping");
                    host.close();
                    return INTERRUPTED;
                }
            }
            host.close();
            return host.incomingMigrationFailed() ? FAILED : OK;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            host.close();
            return INTERRUPTED;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is already exiting: the hook runs (close is idempotent)
            }
        }
    }

    /**
     * Chooses the log format and level before the first logger exists: {@code --json-log} names the
     * JSON configuration of the distribution; INFO unless -Dlivetap.log says otherwise.
     */
    static void configureLogging(List<String> args) {
        if (args.contains("--json-log") && System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "logback-json.xml");
        }
        if (System.getProperty("livetap.log") == null) {
            System.setProperty("livetap.log", "INFO");
        }
    }

    /** SIGTERM and SIGINT as a callback (the JDK's signal API; the shutdown hook where it is missing). */
    @SuppressWarnings("restriction")
    private static void onTermination(Consumer<String> callback) {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> callback.accept("SIG" + s.getName()));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // not available: the shutdown hook still cleans up
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
            stop.complete("the launching process exited (stdin closed, " + VmmArguments.DIE_WITH_PARENT_OPTION + ")");
        }, "livetap-vmm-parent-watch");
        watcher.setDaemon(true);
        watcher.start();
    }
}
