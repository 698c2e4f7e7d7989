#!/usr/bin/env python3
"""SVG charts for docs/benchmarks.md from `livetap bench downtime --json` outputs.

  chart-downtime.py cdf OUT.svg LABEL=FILE.json ...      CDF of downtime_samples_ms per run
  chart-downtime.py queues OUT.svg FILE.json ...         p50 / p99 against the queue count (log x)
"""
import json, math, sys

W, H, L, R, T, B = 640, 360, 60, 20, 30, 40
COLORS = ["#c0392b", "#2471a3", "#27ae60", "#8e44ad"]

def frame(title, xs, ys, xlabel, ylabel):
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (W, H),
           '<rect width="%d" height="%d" fill="white"/>' % (W, H),
           '<text x="%d" y="18" text-anchor="middle" font-size="13">%s</text>' % (W / 2, title)]
    for x, label in xs:
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (x, T, x, H - B, x, H - B + 14, label))
    for y, label in ys:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (L, y, W - R, y, L - 4, y + 4, label))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % ((L + W - R) / 2, H - 8, xlabel))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">%s</text>' % ((T + H - B) / 2, (T + H - B) / 2, ylabel))
    return out

def cdf(out_path, runs):
    xmax = 40.0
    sx = lambda v: L + min(v, xmax) / xmax * (W - L - R)
    sy = lambda p: H - B - p * (H - B - T)
    out = frame("livetap bench downtime --queues 4 --migrations 200: CDF of downtime (ms)",
                [(sx(v), str(v)) for v in range(0, 41, 5)], [(sy(p / 4), "%d%%" % (p * 25)) for p in range(5)],
                "downtime ms (clipped at %d)" % xmax, "share of migrations")
    for i, (label, path) in enumerate(runs):
        d = json.load(open(path))
        xs = sorted(d["downtime_samples_ms"])
        pts = " ".join("%.1f,%.1f" % (sx(v), sy((k + 1) / len(xs))) for k, v in enumerate(xs))
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (COLORS[i % 4], pts))
        out.append('<text x="%d" y="%d" fill="%s">%s: p50 %.1f, p99 %.1f ms (load %s)</text>'
                   % (L + 200, T + 40 + 14 * i, COLORS[i % 4], label, d["downtime_ms"]["p50"], d["downtime_ms"]["p99"],
                      d["load_average_start"].split()[0]))
    open(out_path, "w").write("\n".join(out + ["</svg>"]) + "\n")

def queues(out_path, paths):
    rows = sorted((json.load(open(p)) for p in paths), key=lambda d: d["queues"])
    qmax = max(d["queues"] for d in rows)
    ymax = max(d["downtime_ms"]["p99"] for d in rows) * 1.1
    sx = lambda q: L + math.log2(q) / math.log2(qmax) * (W - L - R)
    sy = lambda v: H - B - v / ymax * (H - B - T)
    step = 10 ** math.floor(math.log10(ymax / 2))
    out = frame("livetap bench downtime: downtime against queues (200 migrations each)",
                [(sx(d["queues"]), str(d["queues"])) for d in rows],
                [(sy(v * step), "%g" % (v * step)) for v in range(0, int(ymax / step) + 1)], "queues (log scale)", "ms")
    for i, key in enumerate(["p50", "p99"]):
        pts = " ".join("%.1f,%.1f" % (sx(d["queues"]), sy(d["downtime_ms"][key])) for d in rows)
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (COLORS[i], pts))
        out.append('<text x="%d" y="%d" fill="%s">downtime %s</text>' % (L + 20, T + 20 + 14 * i, COLORS[i], key))
    pts = " ".join("%.1f,%.1f" % (sx(d["queues"]), sy(d["bare_handoff_ms"]["p50"])) for d in rows)
    out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="4 3" points="%s"/>' % (COLORS[2], pts))
    out.append('<text x="%d" y="%d" fill="%s">bare C hand-off p50</text>' % (L + 20, T + 48, COLORS[2]))
    open(out_path, "w").write("\n".join(out + ["</svg>"]) + "\n")

if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("cdf", "queues"):
        sys.exit(__doc__)
    if sys.argv[1] == "cdf":
        cdf(sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]])
    else:
        queues(sys.argv[2], sys.argv[3:])
