package dev.livetap.tools;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.testbed.demo.DemoReport;
import dev.livetap.testbed.demo.DemoRun;
import dev.livetap.testbed.demo.DemoSummary;
import dev.livetap.testbed.demo.DemoVerdict;
import dev.livetap.testbed.demo.StandInDemo;
import dev.livetap.testbed.selftest.HostChecks;
import dev.livetap.testbed.selftest.HostChecks.Check;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap demo}: repeated local migrations under a real ping, with backend transfer and the baseline. */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Migrates a VM N times (A -> B -> C ...) between 'livetap vmm' processes in a private network",
            "namespace while a real 'ping -D' runs towards its guest stand-in: first with backend transfer (the TAP's queue",
            "fds travel), then the baseline (each target opens a new TAP; address and MAC are moved to it). Prints a",
            "summary table: downtime p50/p99, ping frames sent/lost, worst extra delay, requests sent inside freezes.",
            "Without root or /dev/net/tun it says so and runs stand-in migrations in memory (real_tap: false, exit 3).",
            "Each source holds its freeze (pause-before-switchover): while QMP says pre-switchover the demo writes numbered",
            "probe frames into the TAP, then sends migrate-continue. Writes demo-report.html (the picture of every freeze).",
            "Exit 0: every freeze of both modes held a probe, backend transfer answered every probe and ping lost no",
            "frame with it; 1 otherwise."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--queues", defaultValue = "4", description = "Queues of the TAP (1-256, default ${DEFAULT-VALUE}).")
    int queues;

    @Option(names = "--migrations", defaultValue = "10", description = "Migrations per mode (1-100, default ${DEFAULT-VALUE}).")
    int migrations;

    @Option(names = "--interval-ms", defaultValue = "1", paramLabel = "MS",
            description = "ping interval in ms (0.2-200, default ${DEFAULT-VALUE}; must be below the downtime so that requests fall into freezes).")
    double intervalMs;

    @Option(names = "--probes", defaultValue = "8", paramLabel = "K",
            description = "Probe frames written into the TAP during each held freeze (1-16, default ${DEFAULT-VALUE}).")
    int probes;

    @Option(names = "--report", paramLabel = "PATH", defaultValue = DemoReport.DEFAULT_FILE,
            description = "Where to write the HTML report (default ${DEFAULT-VALUE} in the current directory).")
    Path report;

    @Option(names = "--json", description = "Print one JSON object (progress goes to stderr).")
    boolean json;

    private volatile boolean interrupted;

    @Override
    public Integer call() {
        PrintStream progressOut = json ? System.err : System.out;
        DemoRun.Options options;
        try {
            options = new DemoRun.Options(queues, migrations, intervalMs, probes, progressOut::println);
        } catch (IllegalArgumentException e) {
            throw new BadOptionValue(e.getMessage());
        }
        List<Check> missing = HostChecks.run().stream().filter(c -> !c.ok()).toList();
        if (!missing.isEmpty()) {
            return standIn(options, missing, progressOut);
        }
        DemoRun run = new DemoRun(options);
        Thread hook = new Thread(run::close, "livetap-demo-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        Signals.onTermination(signal -> {
            interrupted = true;
            System.err.println("livetap demo: " + signal + ": stopping children, deleting " + run.namespace() + " ...");
            run.close();
            Runtime.getRuntime().halt(ExitCodes.INTERRUPTED);
        });
        progressOut.printf("livetap demo: %d migrations per mode, %d-queue TAP, ping every %s ms, namespace %s%n",
                migrations, queues, dev.livetap.report.Table.format(intervalMs), run.namespace());
        DemoRun.Outcome outcome;
        try {
            outcome = run.run();
        } catch (Exception e) {
            if (interrupted) {
                run.close(); // returns once the signal handler's clean-up is done
                return ExitCodes.INTERRUPTED;
            }
            System.err.println("livetap demo: failed: " + e);
            e.printStackTrace();
            System.err.print(run.diagnostics());
            return ExitCodes.FAILED;
        } finally {
            run.close();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // already running
            }
        }
        DemoSummary bt = outcome.backendTransfer();
        DemoSummary base = outcome.baseline();
        DemoVerdict verdict = DemoVerdict.of(bt, base, outcome.ifindexUnchanged());
        boolean ok = verdict.ok();
        String table = DemoSummary.table(List.of(bt, base));
        String title = String.format("%d migrations per mode, %d-queue TAP, %d probes per held freeze, ping every %s ms",
                migrations, queues, probes, dev.livetap.report.Table.format(intervalMs));
        Path reportPath = report.toAbsolutePath();
        try {
            DemoReport.write(reportPath, title, List.of(bt, base), verdict, table);
            if (json) {
                progressOut.println("report: " + reportPath);
            }
        } catch (IOException e) {
            System.err.println("livetap demo: cannot write the report " + reportPath + ": " + e.getMessage());
            reportPath = null;
        }
        if (json) {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("real_tap", true);
            o.put("ok", ok);
            o.put("proves_something", bt.provesSomething() && base.provesSomething());
            o.put("queues", queues);
            o.put("ping_interval_ms", intervalMs);
            o.put("probes_per_freeze", probes);
            o.put("ifindex_unchanged", outcome.ifindexUnchanged());
            if (reportPath != null) {
                o.put("report", reportPath.toString());
            }
            var failures = o.putArray("failures");
            verdict.failures().forEach(failures::add);
            o.set(DemoSummary.BACKEND_TRANSFER, bt.toJson());
            o.set(DemoSummary.BASELINE, base.toJson());
            System.out.println(o);
        } else {
            System.out.println();
            System.out.print(table);
            System.out.println();
            System.out.printf("TAP ifindex with backend transfer: %d before, %s after %d hand-offs%n", outcome.ifindex(),
                    outcome.ifindexUnchanged() ? "the same" : "DIFFERENT", bt.completed());
            System.out.printf("held freezes: backend transfer %d/%d freezes with probes, %d of %d probes answered; baseline %d/%d,"
                    + " %d of %d probes lost with the old TAP%n",
                    bt.migrations().size() - bt.freezesWithoutProbe(), bt.migrations().size(), bt.probesAnswered(), bt.probesSent(),
                    base.migrations().size() - base.freezesWithoutProbe(), base.migrations().size(),
                    base.probesSent() - base.probesAnswered(), base.probesSent());
            System.out.printf("ping: backend transfer lost %d of %d, baseline %d of %d%n", bt.framesLost(), bt.framesSent(),
                    base.framesLost(), base.framesSent());
            verdict.failures().forEach(f -> System.out.println("  " + f));
            if (reportPath != null) {
                System.out.println("report: " + reportPath);
            }
            System.out.println(ok ? "demo: ok" : "demo: FAILED");
        }
        return ok ? ExitCodes.OK : ExitCodes.FAILED;
    }

    private Integer standIn(DemoRun.Options options, List<Check> missing, PrintStream progressOut) {
        System.err.println("livetap demo: cannot use real TAP devices here:");
        missing.forEach(c -> System.err.println("  " + c.name() + ": " + c.detail()));
        System.err.println("livetap demo: running STAND-IN migrations instead (in-memory OS in this JVM, no real TAP, no real ping): real_tap false");
        StandInDemo.Outcome r = StandInDemo.run(options.queues(), options.migrations(), progressOut::println);
        if (json) {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("real_tap", false);
            o.put("ok", false);
            o.put("proves_something", false);
            var m = o.putArray("missing");
            missing.forEach(c -> m.add(c.name() + ": " + c.detail()));
            o.put("queues", options.queues());
            o.set(DemoSummary.BACKEND_TRANSFER, r.summary().toJson());
            o.putNull(DemoSummary.BASELINE);
            if (r.error() != null) {
                o.put("error", r.error());
            }
            System.out.println(o);
        } else {
            System.out.println();
            System.out.print(DemoSummary.table(List.of(r.summary())));
            System.out.println("stand-in run (real_tap: false): no real TAP and no ping, so no frame counts; it proves nothing about the network"
                    + (r.error() == null ? "" : "; error: " + r.error()));
        }
        return ExitCodes.UNAVAILABLE;
    }
}
