package dev.livetap.fleet.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.fleet.budget.FreezeBudget;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The soak: one host agent process with a fixed heap ({@code -Xms} = {@code -Xmx}, pre-touched)
 * performs {@code migrations} consecutive VM steps ({@link AgentFleetBench} with one host, in
 * rounds of {@code vms}); after every round it samples its heap used after a full GC, RSS, fds and
 * threads. The verdict is {@code flat} when each of the four grew by at most {@link #FLAT_PERCENT} %
 * from the baseline (the median of the first {@link #MEDIAN_OF} samples from the end of the warm-up
 * on) to the end (the median of the last {@value #MEDIAN_OF}).
 */
public final class FleetSoak {
    public static final double FLAT_PERCENT = 5.0;
    /** Baseline and end are medians of this many samples: one full GC's figure varies by a few hundred KB. */
    static final int MEDIAN_OF = 3;
    static final List<String> METRICS = List.of("heap_used_after_gc_mb", "rss_mb", "fds", "threads");

    /** @param warmupMigrations migrations before the baseline sample (rounded up to whole rounds) */
    public record Options(int migrations, int vms, int warmupMigrations, FreezeBudget.Settings budget, String budgetLabel,
            int threads, Duration timeout, int agentHeapMb) {
        public Options {
            if (migrations < 1 || migrations > 10_000_000 || vms < 1 || vms > 1000 || warmupMigrations < 0) {
                throw new IllegalArgumentException("--migrations 1..10000000, --vms 1..1000 and --warmup-migrations >= 0 are required");
            }
        }

        int rounds() {
            return (migrations + vms - 1) / vms;
        }

        int warmupRounds() {
            return (warmupMigrations + vms - 1) / vms;
        }
    }

    private FleetSoak() {
    }

    public static ObjectNode run(Options o, Consumer<String> progress) throws IOException, InterruptedException, TimeoutException {
        ObjectNode r = AgentFleetBench.run(new AgentFleetBench.Options(1, o.vms(), o.rounds(), o.warmupRounds(), o.budget(),
                o.budgetLabel(), o.threads(), o.timeout(), o.agentHeapMb()), progress);
        verdict(r, o.warmupRounds());
        return r;
    }

    /** Adds {@code soak}: the baseline and last samples, each metric's growth in %, and the verdict. */
    static void verdict(ObjectNode r, int warmupRounds) {
        JsonNode samples = r.path("agent_samples");
        ObjectNode soak = r.putObject("soak");
        soak.put("flat_limit_percent", FLAT_PERCENT);
        if (samples.size() < warmupRounds + 2) {
            soak.put("verdict", "not measured");
            soak.put("why", "fewer than two samples after the warm-up (" + samples.size() + " samples)");
            return;
        }
        int first = warmupRounds;
        int last = samples.size() - 1;
        int window = Math.min(MEDIAN_OF, last - first + 1);
        soak.put("baseline_after_migrations", samples.get(first).path("after_migrations").asLong());
        soak.put("end_after_migrations", samples.get(last).path("after_migrations").asLong());
        soak.put("median_of_samples", window);
        ObjectNode growth = soak.putObject("growth_percent");
        ObjectNode maxGrowth = soak.putObject("max_growth_percent");
        ObjectNode baseline = soak.putObject("baseline");
        ObjectNode endValues = soak.putObject("end");
        List<String> grown = new ArrayList<>();
        for (String m : METRICS) {
            double b = median(samples, m, first, first + window);
            double e = median(samples, m, last + 1 - window, last + 1);
            double g = percent(b, e);
            double max = g;
            for (int i = first; i <= last; i++) {
                max = Math.max(max, percent(b, samples.get(i).path(m).asDouble()));
            }
            baseline.put(m, b);
            endValues.put(m, e);
            growth.put(m, round2(g));
            maxGrowth.put(m, round2(max));
            if (g > FLAT_PERCENT) {
                grown.add(m);
            }
        }
        soak.put("verdict", grown.isEmpty() ? "flat" : "growing");
        if (!grown.isEmpty()) {
            soak.put("grown", String.join(",", grown));
        }
    }

    /** The median of {@code metric} over samples {@code from} (inclusive) to {@code to} (exclusive). */
    private static double median(JsonNode samples, String metric, int from, int to) {
        List<Double> v = new ArrayList<>();
        for (int i = from; i < to; i++) {
            v.add(samples.get(i).path(metric).asDouble());
        }
        v.sort(null);
        int n = v.size();
        return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }

    private static double percent(double base, double value) {
        return base <= 0 ? 0 : (value - base) / base * 100;
    }

    private static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /** The samples as a table: at most {@code rows} rows (evenly spaced, the baseline and the last always in). */
    public static String table(JsonNode r, int rows) {
        JsonNode s = r.path("agent_samples");
        StringBuilder t = new StringBuilder(String.format(Locale.ROOT, "%10s %10s %8s %5s %7s%n", "migrations", "heap MB",
                "RSS MB", "fds", "threads"));
        int step = Math.max(1, s.size() / Math.max(1, rows));
        for (int i = 0; i < s.size(); i++) {
            if (i % step != 0 && i != s.size() - 1) {
                continue;
            }
            JsonNode x = s.get(i);
            t.append(String.format(Locale.ROOT, "%10d %10.2f %8.2f %5d %7d%s%n", x.path("after_migrations").asLong(),
                    x.path("heap_used_after_gc_mb").asDouble(), x.path("rss_mb").asDouble(), x.path("fds").asInt(),
                    x.path("threads").asInt(), x.path("warm_up").asBoolean() ? "  (warm-up)" : ""));
        }
        return t.toString();
    }
}
