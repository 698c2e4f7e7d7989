package dev.livetap.testbed.demo;

import dev.livetap.testbed.Ping;
import dev.livetap.testbed.demo.DemoSummary.Migration;
import dev.livetap.report.SvgChart;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code demo-report.html}: one self-contained page (inline SVG and CSS, no script, no external
 * asset) with, per mode, the ping RTT timeline over the whole run with the freezes shaded, one
 * zoomed panel per freeze (±100 ms around it, the same scale in both modes) with the held part
 * and the rest of the freeze shaded, ping requests, lost requests and the probes marked, and the
 * per-migration downtime bars. Drawn with the one chart writer the simulation's report uses.
 */
public final class DemoReport {
    /** The file name {@code livetap demo} writes into the current directory unless --report says otherwise. */
    public static final String DEFAULT_FILE = "demo-report.html";
    static final long MARGIN_NANOS = 100_000_000L;
    private static final String ACCENT = "#3b6fb6";
    private static final String BAD = "#c0392b";
    private static final String GOOD = "#2e7d32";
    private static final String HELD = "#e67e22";
    private static final String FREEZE = "#f5b041";
    private static final int TIMELINE_W = 1080;

    private DemoReport() {
    }

    public static void write(Path file, String title, List<DemoSummary> modes, DemoVerdict verdict, String table)
            throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, html(title, modes, verdict, table), StandardCharsets.UTF_8);
    }

    public static String html(String title, List<DemoSummary> modes, DemoVerdict verdict, String table) {
        StringBuilder h = new StringBuilder(256 * 1024);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>livetap demo report</title>\n<style>\n")
                .append("body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\n")
                .append("h1{font-size:22px}h2{font-size:18px;margin-top:30px;border-bottom:1px solid #ddd}h3{font-size:15px}\n")
                .append("pre{background:#f6f6f6;padding:8px;font-size:12px}.ok{color:").append(GOOD).append("}.bad{color:").append(BAD)
                .append("}\n.panels{display:flex;flex-wrap:wrap;gap:6px}.key span{display:inline-block;margin-right:14px}\n")
                .append(".sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px}\n")
                .append("</style>\n</head>\n<body>\n<h1>livetap demo</h1>\n<p>").append(SvgChart.esc(title)).append("</p>\n");
        h.append("<p id=\"verdict\" class=\"").append(verdict.ok() ? "ok" : "bad").append("\"><b>")
                .append(verdict.ok() ? "demo: ok" : "demo: FAILED").append("</b>");
        for (String f : verdict.failures()) {
            h.append("<br/>").append(SvgChart.esc(f));
        }
        h.append("</p>\n<pre>").append(SvgChart.esc(table)).append("</pre>\n");
        h.append("<p class=\"key\"><span><i class=\"sw\" style=\"background:").append(HELD)
                .append("\"></i>held freeze (source stopped, waiting in pre-switchover; the probes are written here)</span><span>"
                        + "<i class=\"sw\" style=\"background:").append(FREEZE)
                .append(";opacity:.5\"></i>rest of the freeze (migrate-continue to target running)</span><span><i class=\"sw\" style=\"background:")
                .append(ACCENT).append("\"></i>ping RTT</span><span><i class=\"sw\" style=\"background:").append(BAD)
                .append("\"></i>lost ping request / unanswered probe</span><span><i class=\"sw\" style=\"background:").append(GOOD)
                .append("\"></i>probe answered</span></p>\n");

        long longest = 0;
        double rttMax = 1;
        for (DemoSummary s : modes) {
            for (Migration m : s.migrations()) {
                if (m.hasWindow()) {
                    longest = Math.max(longest, m.startedNanos() - m.stoppedNanos());
                }
            }
        }
        long span = 2 * MARGIN_NANOS + longest;
        for (DemoSummary s : modes) {
            for (Migration m : s.migrations()) {
                for (Ping.Request r : s.pingRequests()) {
                    if (r.answered() && m.stoppedNanos() > 0 && r.sentNanos() >= m.stoppedNanos() - MARGIN_NANOS
                            && r.sentNanos() <= m.stoppedNanos() - MARGIN_NANOS + span) {
                        rttMax = Math.max(rttMax, r.rttNanos() / 1e6);
                    }
                }
            }
        }
        double downtimeMax = 1;
        for (DemoSummary s : modes) {
            for (Migration m : s.migrations()) {
                downtimeMax = Math.max(downtimeMax, Math.max(0, m.downtimeMs()) + held(m));
            }
        }
        for (DemoSummary s : modes) {
            String mode = s.mode().replace('_', ' ');
            h.append("<section id=\"").append(s.mode()).append("\">\n<h2>").append(mode).append("</h2>\n");
            h.append("<h3>ping RTT over the run (freezes shaded)</h3>\n").append(timeline(s));
            h.append("<h3>every freeze, ±100 ms (same scale in both modes: ").append(ms(span / 1e6)).append(" ms wide, RTT 0–")
                    .append(ms(rttMax)).append(" ms; x: ms from the source's stop, y: ping RTT in ms)</h3>\n<div class=\"panels\">\n");
            for (Migration m : s.migrations()) {
                h.append(panel(s, m, span, rttMax));
            }
            h.append("</div>\n<h3>per migration: downtime (blue) and the held part of the freeze (orange)</h3>\n")
                    .append(downtimeBars(s, downtimeMax)).append("</section>\n");
        }
        h.append("<p>Times are CLOCK_MONOTONIC: the freeze windows are the VMMs' own stamps (source queues stopped, target"
                + " queues started); ping's send times come from <code>ping -D</code>, converted with an offset measured at its"
                + " start. docs/demo.md explains every figure.</p>\n</body>\n</html>\n");
        return h.toString();
    }

    private static double held(Migration m) {
        return m.hold() == null ? 0 : Math.max(0, m.hold().heldMs(m.stoppedNanos()));
    }

    /** The whole run: per pixel column the largest RTT (a bar), lost requests as red ticks from the top, freezes shaded. */
    private static String timeline(DemoSummary s) {
        List<Ping.Request> reqs = s.pingRequests();
        SvgChart c = new SvgChart(TIMELINE_W + 80, 190, s.mode() + " ping RTT timeline");
        if (reqs.isEmpty()) {
            c.text(60, 90, "no ping ran", 13, "start");
            return c.toSvg();
        }
        long t0 = reqs.get(0).sentNanos();
        double end = (reqs.get(reqs.size() - 1).sentNanos() - t0) / 1e9;
        double[] colMax = new double[TIMELINE_W];
        double rtt = 1;
        for (Ping.Request r : reqs) {
            if (r.answered()) {
                rtt = Math.max(rtt, r.rttNanos() / 1e6);
            }
        }
        SvgChart.Plot p = c.plot(60, 20, TIMELINE_W, 130, 0, end, 0, rtt).frame().yAxis(4, "RTT ms").xAxis(10, "s since ping started");
        for (Migration m : s.migrations()) {
            if (m.hasWindow()) {
                p.band((m.stoppedNanos() - t0) / 1e9, (m.startedNanos() - t0) / 1e9, HELD, 0.6,
                        "migration " + m.index() + ": freeze " + ms((m.startedNanos() - m.stoppedNanos()) / 1e6) + " ms");
            }
        }
        for (Ping.Request r : reqs) {
            int col = (int) Math.min(TIMELINE_W - 1, Math.max(0, (p.x((r.sentNanos() - t0) / 1e9) - 60)));
            if (r.answered()) {
                colMax[col] = Math.max(colMax[col], r.rttNanos() / 1e6);
            }
        }
        for (int col = 0; col < TIMELINE_W; col++) {
            if (colMax[col] > 0) {
                double y = p.y(colMax[col]);
                c.rect(60 + col, y, 1, p.y(0) - y, ACCENT, 1, null);
            }
        }
        for (Ping.Request r : reqs) {
            if (!r.answered()) {
                p.tick((r.sentNanos() - t0) / 1e9, true, 10, BAD, "lost: icmp_seq " + r.seq());
            }
        }
        return c.toSvg();
    }

    /** One freeze, from 100 ms before the source stopped, {@code span} wide. */
    private static String panel(DemoSummary s, Migration m, long span, double rttMax) {
        SvgChart c = new SvgChart(228, 196, s.mode() + " migration " + m.index());
        c.text(8, 13, "#" + m.index() + " " + m.from() + " → " + m.to(), 11, "start");
        if (!m.hasWindow()) {
            c.text(8, 80, m.status() + ": no freeze stamps", 11, "start", BAD);
            return c.toSvg();
        }
        long from = m.stoppedNanos() - MARGIN_NANOS;
        SvgChart.Plot p = c.plot(34, 24, 186, 110, -MARGIN_NANOS / 1e6, (span - MARGIN_NANOS) / 1e6, 0, rttMax).frame()
                .yAxis(3, "").xAxis(4, "ms from source stop");
        HeldFreeze hold = m.hold();
        double freezeMs = (m.startedNanos() - m.stoppedNanos()) / 1e6;
        double heldMs = hold == null ? 0 : Math.max(0, Math.min(freezeMs, hold.heldMs(m.stoppedNanos())));
        p.band(0, heldMs, HELD, 0.75, "held freeze " + ms(heldMs) + " ms");
        p.band(heldMs, freezeMs, FREEZE, 0.5, "migrate-continue to target running " + ms(freezeMs - heldMs) + " ms");
        int lost = 0;
        for (Ping.Request r : s.pingRequests()) {
            if (r.sentNanos() < from || r.sentNanos() > from + span) {
                continue;
            }
            double x = (r.sentNanos() - m.stoppedNanos()) / 1e6;
            if (r.answered()) {
                p.point(x, r.rttNanos() / 1e6, 1.6, ACCENT, "icmp_seq " + r.seq() + ": " + ms(r.rttNanos() / 1e6) + " ms");
            } else {
                lost++;
                p.tick(x, true, 8, BAD, "lost: icmp_seq " + r.seq());
            }
        }
        if (hold != null && hold.probesWritten() > 0) {
            double x = (hold.writeStartNanos() - m.stoppedNanos()) / 1e6;
            boolean all = hold.probesAnswered() == hold.probesWritten();
            p.tick(x, false, 14, all ? GOOD : BAD, hold.probesWritten() + " probes written, " + hold.probesAnswered() + " answered");
        }
        c.text(8, 190, String.format(Locale.ROOT, "freeze %s ms, held %s · probes %d/%d · lost %d", ms(freezeMs), ms(heldMs),
                hold == null ? 0 : hold.probesAnswered(), hold == null ? 0 : hold.probesWritten(), lost), 9, "start");
        return c.toSvg();
    }

    private static String downtimeBars(DemoSummary s, double max) {
        int n = Math.max(1, s.migrations().size());
        SvgChart c = new SvgChart(Math.min(TIMELINE_W, 60 + n * 40) + 60, 180, s.mode() + " downtime per migration");
        SvgChart.Plot p = c.plot(60, 16, Math.min(TIMELINE_W, n * 40), 130, 0.5, n + 0.5, 0, max).frame().yAxis(4, "ms");
        for (Migration m : s.migrations()) {
            double down = Math.max(0, m.downtimeMs());
            double held = held(m);
            p.bar(m.index() - 0.35, m.index() + 0.35, 0, down, ACCENT, "migration " + m.index() + ": downtime " + ms(down) + " ms");
            p.bar(m.index() - 0.35, m.index() + 0.35, down, down + held, HELD, "held freeze " + ms(held) + " ms");
            c.text(p.x(m.index()), 146 + 14, String.valueOf(m.index()), 10, "middle", "#555");
        }
        c.text(60 + Math.min(TIMELINE_W, n * 40), 175, "migration", 10, "end", "#555");
        return c.toSvg();
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }
}
