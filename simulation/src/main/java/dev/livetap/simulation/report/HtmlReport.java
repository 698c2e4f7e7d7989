package dev.livetap.simulation.report;

import dev.livetap.report.SvgChart;
import dev.livetap.simulation.Fault;
import dev.livetap.simulation.Phase;
import dev.livetap.simulation.SimRun;
import dev.livetap.simulation.Simulator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code simulate --report DIR}: {@code report.json} (the batch's JSON summary) and a
 * self-contained {@code report.html} with the same data: the seed and options, outcome counts (bar
 * chart), the fault × phase matrix (heat table with counts, violations marked), a downtime
 * histogram, and every violation with its reproduction line. Inline SVG and CSS only: no script,
 * no external asset, so the file can be archived or mailed as it is.
 */
public final class HtmlReport {
    /** Rows of the violation table in the HTML; report.json lists them all. */
    static final int VIOLATIONS_SHOWN_MAX = 200;
    private static final String ACCENT = "#3b6fb6";
    private static final String BAD = "#c0392b";

    private HtmlReport() {
    }

    public static void write(Path dir, Simulator.Batch b, String faultsArg, String queuesArg, String json) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("report.json"), json + "\n", StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("report.html"), html(b, faultsArg, queuesArg), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String html(Simulator.Batch b, String faultsArg, String queuesArg) {
        StringBuilder h = new StringBuilder(32 * 1024);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
                .append("<title>livetap simulate report: seed ").append(b.seed()).append("</title>\n<style>\n")
                .append("body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\n")
                .append("h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\n")
                .append("table{border-collapse:collapse}td,th{padding:3px 7px;border:1px solid #ddd;text-align:right}\n")
                .append("th{background:#f4f4f4}td.l,th.l{text-align:left}td.na{background:#fafafa;color:#bbb}\n")
                .append("td.v{outline:2px solid ").append(BAD).append(";outline-offset:-2px;font-weight:bold}\n")
                .append("code{background:#f4f4f4;padding:1px 4px}.ok{color:#2e7d32}.bad{color:").append(BAD).append("}\n")
                .append("dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}dt{color:#666}dd{margin:0}\n")
                .append("</style>\n</head>\n<body>\n");
        h.append("<h1>livetap deterministic simulation</h1>\n");
        int violations = b.violations().size();
        h.append("<section id=\"summary\">\n<h2>Run</h2>\n<dl>\n");
        dd(h, "seed", String.valueOf(b.seed()));
        dd(h, "runs", String.valueOf(b.runs()));
        dd(h, "faults", faultsArg == null ? "all (" + b.faults().size() + ")" : faultsArg);
        dd(h, "queues", b.minQueues() + "-" + b.maxQueues());
        dd(h, "workers", String.valueOf(b.workers()));
        dd(h, "elapsed", String.format(Locale.ROOT, "%.1f s (%,.0f runs per minute)", b.elapsedNanos() / 1e9, b.runsPerMinute()));
        dd(h, "trace hash", "<code>" + b.traceHash() + "</code>");
        dd(h, "violations", "<span id=\"violation-count\" class=\"" + (violations == 0 ? "ok" : "bad") + "\">" + violations + "</span>");
        dd(h, "reproduce the batch", "<code>" + esc(batchLine(b, faultsArg, queuesArg)) + "</code>");
        h.append("</dl>\n</section>\n");

        h.append("<section id=\"outcomes\">\n<h2>Outcomes</h2>\n");
        bars(h, b.outcomes());
        h.append("</section>\n");

        h.append("<section id=\"matrix\">\n<h2>Fault × phase (runs that injected the fault there)</h2>\n");
        matrix(h, b);
        h.append("</section>\n");

        h.append("<section id=\"downtime\">\n<h2>Downtime (virtual ms, completed runs)</h2>\n");
        histogram(h, Histogram.of(b.downtimesMs(), 20));
        h.append("<p>Virtual time moves only with timers: the in-memory OS models no CPU cost, so a clean"
                + " switch-over shows 0 ms here. Real downtimes: <code>./livetap chaos</code> and the benchmarks.</p>\n");
        h.append("</section>\n");

        h.append("<section id=\"violations\">\n<h2>Violations</h2>\n");
        if (violations == 0) {
            h.append("<p class=\"ok\">None: every invariant held after every step of every run.</p>\n");
        } else {
            h.append("<table>\n<tr><th class=\"l\">seed</th><th class=\"l\">invariant</th><th class=\"l\">fault</th>"
                    + "<th class=\"l\">phase</th><th class=\"l\">message</th><th class=\"l\">reproduce</th></tr>\n");
            int shown = 0;
            for (SimRun.Result r : b.violations()) {
                if (shown++ == VIOLATIONS_SHOWN_MAX) {
                    break;
                }
                h.append("<tr><td class=\"l\">").append(r.options().seed()).append("</td><td class=\"l\">")
                        .append(esc(r.violation().invariant())).append("</td><td class=\"l\">").append(r.options().fault().id())
                        .append("</td><td class=\"l\">").append(r.options().phase().id()).append("</td><td class=\"l\">")
                        .append(esc(r.violation().getMessage().lines().findFirst().orElse(""))).append("</td><td class=\"l\"><code>")
                        .append(esc(Simulator.repro(r, faultsArg, queuesArg))).append("</code></td></tr>\n");
            }
            h.append("</table>\n");
            if (violations > VIOLATIONS_SHOWN_MAX) {
                h.append("<p>").append(violations - VIOLATIONS_SHOWN_MAX).append(" more in report.json.</p>\n");
            }
        }
        h.append("</section>\n</body>\n</html>\n");
        return h.toString();
    }

    static String batchLine(Simulator.Batch b, String faultsArg, String queuesArg) {
        return "./livetap simulate --seed " + b.seed() + " --runs " + b.runs() + (faultsArg == null ? "" : " --faults " + faultsArg)
                + (queuesArg == null ? "" : " --queues " + queuesArg) + " --report DIR";
    }

    private static void dd(StringBuilder h, String term, String html) {
        h.append("<dt>").append(esc(term)).append("</dt><dd>").append(html).append("</dd>\n");
    }

    /** A horizontal bar chart, one bar per key, count at the bar's end. */
    private static void bars(StringBuilder h, Map<String, Integer> counts) {
        int max = counts.values().stream().mapToInt(Integer::intValue).max().orElse(1);
        int row = 24;
        int labelW = 230;
        int barW = 560;
        SvgChart c = new SvgChart(labelW + barW + 80, Math.max(1, counts.size()) * row + 10, "outcome counts");
        int y = 5;
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            int w = (int) Math.round((double) e.getValue() / Math.max(1, max) * barW);
            String color = e.getKey().equals("violation") ? BAD : ACCENT;
            c.text(labelW - 8, y + 16, e.getKey(), 13, "end");
            c.rect(labelW, y + 3, Math.max(1, w), row - 6, color, 1, null);
            c.text(labelW + w + 6, y + 16, String.valueOf(e.getValue()), 13, "start");
            y += row;
        }
        h.append(c.toSvg());
    }

    private static void matrix(StringBuilder h, Simulator.Batch b) {
        Map<String, Map<String, Integer>> m = b.matrix();
        Map<String, Integer> bad = new HashMap<>();
        for (SimRun.Result r : b.violations()) {
            bad.merge(r.options().fault().id() + "/" + r.options().phase().id(), 1, Integer::sum);
        }
        int max = m.values().stream().flatMap(r -> r.values().stream()).mapToInt(Integer::intValue).max().orElse(1);
        h.append("<table>\n<tr><th class=\"l\">fault</th>");
        for (Phase p : Phase.values()) {
            h.append("<th>").append(p.id()).append("</th>");
        }
        h.append("<th>runs</th></tr>\n");
        for (Fault f : b.faults()) {
            Map<String, Integer> row = m.get(f.id());
            int total = 0;
            h.append("<tr><td class=\"l\" title=\"").append(esc(f.description())).append("\">").append(f.id()).append("</td>");
            for (Phase p : Phase.values()) {
                Integer n = row.get(p.id());
                if (n == null) {
                    h.append("<td class=\"na\">·</td>");
                    continue;
                }
                total += n;
                int v = bad.getOrDefault(f.id() + "/" + p.id(), 0);
                double t = max == 0 ? 0 : (double) n / max;
                // white → accent blue; an applicable cell never reached stays white with a 0
                int r = (int) Math.round(255 - t * (255 - 0x3b));
                int g = (int) Math.round(255 - t * (255 - 0x6f));
                int bl = (int) Math.round(255 - t * (255 - 0xb6));
                String fg = t > 0.55 ? "#fff" : "#222";
                h.append("<td").append(v > 0 ? " class=\"v\"" : "").append(" style=\"background:rgb(").append(r).append(',').append(g)
                        .append(',').append(bl).append(");color:").append(fg).append("\" title=\"").append(f.id()).append(" × ")
                        .append(p.id()).append(": ").append(n).append(" run(s)").append(v > 0 ? ", " + v + " violation(s)" : "")
                        .append("\">").append(n).append(v > 0 ? " (" + v + "✗)" : "").append("</td>");
            }
            h.append("<td>").append(total).append("</td></tr>\n");
        }
        h.append("</table>\n<p>Cells: runs whose fault was injected at that phase (for <code>none</code>: every run of"
                + " it); · = the fault does not apply there; a red frame counts violations in the cell.</p>\n");
    }

    private static void histogram(StringBuilder h, Histogram hist) {
        int w = 720;
        int ht = 200;
        int left = 50;
        int bins = hist.counts().length;
        long max = 1;
        for (long c : hist.counts()) {
            max = Math.max(max, c);
        }
        SvgChart c = new SvgChart(w + left + 20, ht + 40, "downtime histogram");
        // y runs to max + 10 % so that the count above the tallest bar stays inside
        SvgChart.Plot p = c.plot(left, 0, w, ht, 0, bins, 0, max * (ht / (ht - 10.0)));
        c.line(left, ht, left + w, ht, "#888", 1).line(left, 0, left, ht, "#888", 1);
        c.text(left - 6, 12, String.valueOf(max), 11, "end").text(left - 6, ht, "0", 11, "end");
        if (hist.total() == 0) {
            c.text(left + 20, ht / 2.0, "no completed run with a measured downtime", 13, "start");
        }
        for (int i = 0; i < bins; i++) {
            long n = hist.counts()[i];
            if (n > 0) {
                p.bar(i + 0.02, i + 0.98, 0, n, ACCENT, hist.label(i) + " ms: " + n);
                p.label(i + 0.5, n, String.valueOf(n), 10, "middle");
            }
            if (i % Math.max(1, bins / 10) == 0) {
                c.text(p.x(i), ht + 16, String.valueOf(hist.lower(i)), 10, "start");
            }
        }
        c.text(left + w, ht + 28, "ms", 11, "end");
        h.append(c.toSvg()).append("<p>").append(hist.total()).append(" completed run(s) with a downtime; bin width ")
                .append(hist.width()).append(" ms.</p>\n");
    }

    static String esc(String s) {
        return SvgChart.esc(s);
    }
    /** Equal-width bins from the minimum; a single value gets bins of width 1 starting at it. */
    public record Histogram(long min, long width, long[] counts, long total) {
        public static Histogram of(List<Long> values, int binsMax) {
            if (values.isEmpty()) {
                return new Histogram(0, 1, new long[binsMax], 0);
            }
            long min = values.stream().mapToLong(Long::longValue).min().orElse(0);
            long max = values.stream().mapToLong(Long::longValue).max().orElse(0);
            long width = Math.max(1, (max - min + binsMax) / binsMax);
            long[] counts = new long[binsMax];
            for (long v : values) {
                counts[(int) Math.min(binsMax - 1, (v - min) / width)]++;
            }
            return new Histogram(min, width, counts, values.size());
        }

        public long lower(int bin) {
            return min + bin * width;
        }

        public String label(int bin) {
            return width == 1 ? String.valueOf(lower(bin)) : lower(bin) + "–" + (lower(bin) + width - 1);
        }
    }
}
