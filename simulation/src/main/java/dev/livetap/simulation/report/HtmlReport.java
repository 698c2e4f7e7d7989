package dev.livetap.simulation.report;

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
        int height = Math.max(1, counts.size()) * row + 10;
        h.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(labelW + barW + 80).append("\" height=\"")
                .append(height).append("\" role=\"img\" aria-label=\"outcome counts\">\n");
        int y = 5;
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            int w = (int) Math.round((double) e.getValue() / Math.max(1, max) * barW);
            String color = e.getKey().equals("violation") ? BAD : ACCENT;
            h.append("<text x=\"").append(labelW - 8).append("\" y=\"").append(y + 16).append("\" text-anchor=\"end\" font-size=\"13\">")
                    .append(esc(e.getKey())).append("</text>");
            h.append("<rect x=\"").append(labelW).append("\" y=\"").append(y + 3).append("\" width=\"").append(Math.max(1, w))
                    .append("\" height=\"").append(row - 6).append("\" fill=\"").append(color).append("\"/>");
            h.append("<text x=\"").append(labelW + w + 6).append("\" y=\"").append(y + 16).append("\" font-size=\"13\">")
                    .append(e.getValue()).append("</text>\n");
            y += row;
        }
        h.append("</svg>\n");
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
        int bottom = 30;
        int bins = hist.counts().length;
        long max = 1;
        for (long c : hist.counts()) {
            max = Math.max(max, c);
        }
        h.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(w + left + 20).append("\" height=\"")
                .append(ht + bottom + 10).append("\" role=\"img\" aria-label=\"downtime histogram\">\n");
        h.append("<line x1=\"").append(left).append("\" y1=\"").append(ht).append("\" x2=\"").append(left + w).append("\" y2=\"")
                .append(ht).append("\" stroke=\"#888\"/>");
        h.append("<line x1=\"").append(left).append("\" y1=\"0\" x2=\"").append(left).append("\" y2=\"").append(ht)
                .append("\" stroke=\"#888\"/>");
        h.append("<text x=\"").append(left - 6).append("\" y=\"12\" text-anchor=\"end\" font-size=\"11\">").append(max).append("</text>");
        h.append("<text x=\"").append(left - 6).append("\" y=\"").append(ht).append("\" text-anchor=\"end\" font-size=\"11\">0</text>\n");
        if (hist.total() == 0) {
            h.append("<text x=\"").append(left + 20).append("\" y=\"").append(ht / 2).append("\" font-size=\"13\">no completed run with a"
                    + " measured downtime</text>\n");
        }
        double bw = (double) w / bins;
        for (int i = 0; i < bins; i++) {
            long c = hist.counts()[i];
            int bh = (int) Math.round((double) c / max * (ht - 10));
            int x = (int) Math.round(left + i * bw);
            if (c > 0) {
                h.append("<rect x=\"").append(x + 1).append("\" y=\"").append(ht - bh).append("\" width=\"")
                        .append(Math.max(1, (int) bw - 2)).append("\" height=\"").append(bh).append("\" fill=\"").append(ACCENT)
                        .append("\"><title>").append(hist.label(i)).append(" ms: ").append(c).append("</title></rect>");
                h.append("<text x=\"").append(x + (int) (bw / 2)).append("\" y=\"").append(ht - bh - 3)
                        .append("\" text-anchor=\"middle\" font-size=\"10\">").append(c).append("</text>");
            }
            if (i % Math.max(1, bins / 10) == 0) {
                h.append("<text x=\"").append(x).append("\" y=\"").append(ht + 16).append("\" font-size=\"10\">").append(hist.lower(i))
                        .append("</text>");
            }
            h.append('\n');
        }
        h.append("<text x=\"").append(left + w).append("\" y=\"").append(ht + 28).append("\" text-anchor=\"end\" font-size=\"11\">ms</text>\n");
        h.append("</svg>\n<p>").append(hist.total()).append(" completed run(s) with a downtime; bin width ").append(hist.width())
                .append(" ms.</p>\n");
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                default -> b.append(c);
            }
        }
        return b.toString();
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
