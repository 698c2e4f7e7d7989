package dev.livetap.tools;

import dev.livetap.tools.BadOptionValue;
import dev.livetap.tools.ExitCodes;
import dev.livetap.tools.Json;
import dev.livetap.simulation.Fault;
import dev.livetap.simulation.RunOptions;
import dev.livetap.simulation.SimRun;
import dev.livetap.simulation.Simulator;
import dev.livetap.simulation.report.HtmlReport;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap simulate}: the deterministic seeded simulation over the in-memory OS. */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = "Runs seeded simulated migrations (production actors and codec on the in-memory OS, virtual time)"
                + " with one fault per run, checks the invariants after every step, and prints a summary.")
public final class SimulateCommand implements Callable<Integer> {
    @Option(names = "--seed", defaultValue = "1", description = "Batch seed; run 0 uses it as its own seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--runs", defaultValue = "100", description = "Runs: 1-10000000, default ${DEFAULT-VALUE}.")
    int runs;

    @Option(names = "--faults", description = "Comma-separated fault ids (default: all, 'none' included).")
    String faults;

    @Option(names = "--queues", defaultValue = "1-8", description = "Queue count range MIN-MAX or N (default ${DEFAULT-VALUE}).")
    String queues;

    @Option(names = "--workers", description = "Worker threads, one ActorSystem each: 1-1024 (default: available processors).")
    Integer workers;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Option(names = "--report", paramLabel = "DIR", description = "Write report.html and report.json into DIR.")
    Path report;

    @Option(names = "--trace", description = "With --runs 1: print the run's trace (canonical lines).")
    boolean trace;

    @Override
    public Integer call() {
        List<Fault> faultList;
        int qmin;
        int qmax;
        try {
            faultList = parseFaults(faults);
        } catch (IllegalArgumentException e) {
            throw new BadOptionValue("--faults: " + e.getMessage());
        }
        int[] q = parseRange(queues);
        qmin = q[0];
        qmax = q[1];
        BadOptionValue.range("--runs", runs, 1, 10_000_000);
        if (workers != null) {
            BadOptionValue.range("--workers", workers, 1, 1024);
        }
        if (runs == 1) {
            return single(faultList, qmin, qmax);
        }
        int w = workers == null ? Runtime.getRuntime().availableProcessors() : workers;
        if (!json) {
            System.out.println("SEED=" + seed + " runs=" + runs + " faults=" + (faults == null ? "all" : faults) + " queues="
                    + qmin + "-" + qmax + " workers=" + w);
        }
        Simulator.Batch b = Simulator.run(seed, runs, faultList, qmin, qmax, w, r -> {
            if (!r.ok()) {
                System.err.println("VIOLATION " + r.violation().getMessage().lines().findFirst().orElse("") + "\n  reproduce: "
                        + Simulator.repro(r, faults, queues));
            }
        }, null);
        String js = toJson(b, faults, queues);
        if (report != null) {
            HtmlReport.write(report, b, faults, queues, toJson(b, faults, queues, true));
        }
        if (json) {
            System.out.println(js);
        } else {
            System.out.printf("runs=%d violations=%d trace_hash=%s%n", b.runs(), b.violations().size(), b.traceHash());
            System.out.println("outcomes: " + b.outcomes());
            System.out.println("faults injected: " + b.faultsInjected());
            System.out.printf("%.0f simulated migrations per minute (%d workers, %.1f s)%n", b.runsPerMinute(), b.workers(),
                    b.elapsedNanos() / 1e9);
        }
        return b.violations().isEmpty() ? ExitCodes.OK : ExitCodes.FAILED;
    }

    private Integer single(List<Fault> faultList, int qmin, int qmax) {
        RunOptions o = RunOptions.derive(seed, faultList, qmin, qmax);
        if (!json) {
            System.out.println(o.describe());
        }
        SimRun.Result r = Simulator.replay(seed, faultList, qmin, qmax, trace ? 1_000_000 : 0, null);
        if (trace) {
            r.trace().forEach(System.out::println);
        }
        Simulator.Batch b = new Simulator.Batch(seed, 1, faultList, qmin, qmax, List.of(r), 1, 1);
        if (report != null) {
            HtmlReport.write(report, b, faults, queues, toJson(b, faults, queues, true));
        }
        if (json) {
            System.out.println(toJson(b, faults, queues));
        } else {
            System.out.println("outcome=" + r.outcome() + " fault_injected=" + r.faultInjected() + " downtime_ms="
                    + r.downtimeMs() + " steps=" + r.steps() + " trace_lines=" + r.traceLines() + " trace_hash=" + r.traceHash());
            if (!r.ok()) {
                System.out.println("VIOLATION " + r.violation().getMessage());
                System.out.println("reproduce: " + Simulator.repro(r, faults, queues));
            }
        }
        return r.ok() ? ExitCodes.OK : ExitCodes.FAILED;
    }

    /** {@code --faults}: "all" (or nothing) or a comma-separated list of fault ids. */
    public static List<Fault> parseFaults(String s) {
        if (s == null || s.isBlank() || s.equals("all")) {
            return List.of(Fault.values());
        }
        List<Fault> l = new ArrayList<>();
        for (String p : s.split(",")) {
            l.add(Fault.parse(p.trim()));
        }
        return l;
    }

    /** {@code --queues}: N or MIN-MAX within 1-256, as {min, max}. */
    public static int[] parseRange(String s) {
        String bad = "--queues must be N or MIN-MAX within 1-256, got " + s;
        String[] p = s.split("-", -1);
        int a;
        int b;
        try {
            a = Integer.parseInt(p[0].trim());
            b = p.length == 2 ? Integer.parseInt(p[1].trim()) : a;
        } catch (NumberFormatException e) {
            throw new BadOptionValue(bad);
        }
        if (p.length > 2 || a < 1 || b > 256 || a > b) {
            throw new BadOptionValue(bad);
        }
        return new int[] {a, b};
    }

    public static String toJson(Simulator.Batch b, String faultsArg, String queuesArg) {
        return toJson(b, faultsArg, queuesArg, false);
    }

    /** @param runList with every run's seed, fault, phase, outcome and trace hash (report.json: diff two batches run by run) */
    public static String toJson(Simulator.Batch b, String faultsArg, String queuesArg, boolean runList) {
        StringBuilder s = new StringBuilder("{");
        s.append("\"seed\": ").append(b.seed()).append(", \"runs\": ").append(b.runs());
        s.append(", \"violations\": ").append(b.violations().size());
        s.append(", \"violation_list\": [");
        int i = 0;
        for (SimRun.Result r : b.violations()) {
            if (i++ > 0) {
                s.append(", ");
            }
            s.append("{\"seed\": ").append(r.options().seed()).append(", \"invariant\": ")
                    .append(Json.quote(r.violation().invariant())).append(", \"fault\": ").append(Json.quote(r.options().fault().id()))
                    .append(", \"phase\": ").append(Json.quote(r.options().phase().id())).append(", \"message\": ")
                    .append(Json.quote(r.violation().getMessage())).append(", \"reproduce\": ")
                    .append(Json.quote(Simulator.repro(r, faultsArg, queuesArg))).append('}');
        }
        s.append("]");
        s.append(", \"faults_injected\": ").append(map(b.faultsInjected()));
        s.append(", \"outcomes\": ").append(map(b.outcomes()));
        s.append(", \"matrix\": {");
        i = 0;
        for (Map.Entry<String, Map<String, Integer>> e : b.matrix().entrySet()) {
            s.append(i++ > 0 ? ", " : "").append(Json.quote(e.getKey())).append(": ").append(map(e.getValue()));
        }
        s.append("}");
        List<Long> d = b.downtimesMs();
        List<Long> sorted = d.stream().sorted().toList();
        s.append(", \"downtime_ms\": {\"count\": ").append(d.size());
        if (!sorted.isEmpty()) {
            s.append(", \"p50\": ").append(sorted.get(sorted.size() / 2)).append(", \"p99\": ")
                    .append(sorted.get(Math.min(sorted.size() - 1, (int) (sorted.size() * 0.99)))).append(", \"max\": ")
                    .append(sorted.get(sorted.size() - 1));
        }
        s.append("}");
        HtmlReport.Histogram h = HtmlReport.Histogram.of(d, 20);
        s.append(", \"downtime_histogram\": {\"min_ms\": ").append(h.min()).append(", \"bin_width_ms\": ").append(h.width())
                .append(", \"counts\": [");
        for (int k = 0; k < h.counts().length; k++) {
            s.append(k > 0 ? ", " : "").append(h.counts()[k]);
        }
        s.append("]}");
        s.append(", \"options\": {\"faults\": ").append(Json.quote(faultsArg == null ? "all" : faultsArg))
                .append(", \"queues\": ").append(Json.quote(b.minQueues() + "-" + b.maxQueues())).append("}");
        s.append(", \"trace_hash\": ").append(Json.quote(b.traceHash()));
        s.append(", \"workers\": ").append(b.workers());
        s.append(", \"elapsed_ms\": ").append(b.elapsedNanos() / 1_000_000);
        s.append(", \"runs_per_minute\": ").append(Math.round(b.runsPerMinute()));
        if (runList) {
            s.append(", \"run_list\": [");
            int k = 0;
            for (SimRun.Result r : b.results()) {
                s.append(k++ > 0 ? ", " : "").append("{\"seed\": ").append(r.options().seed()).append(", \"fault\": ")
                        .append(Json.quote(r.options().fault().id())).append(", \"phase\": ").append(Json.quote(r.options().phase().id()))
                        .append(", \"outcome\": ").append(Json.quote(r.ok() ? r.outcome() : "violation")).append(", \"trace_hash\": ")
                        .append(Json.quote(r.traceHash())).append('}');
            }
            s.append(']');
        }
        return s.append("}").toString();
    }

    private static String map(Map<String, Integer> m) {
        StringBuilder s = new StringBuilder("{");
        int i = 0;
        for (Map.Entry<String, Integer> e : m.entrySet()) {
            s.append(i++ > 0 ? ", " : "").append(Json.quote(e.getKey())).append(": ").append(e.getValue());
        }
        return s.append("}").toString();
    }
}
