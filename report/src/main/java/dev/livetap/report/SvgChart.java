package dev.livetap.report;

import java.util.Locale;

/**
 * The one inline-SVG writer of the HTML reports (the simulation's and the demo's): pixel
 * primitives, and {@link Plot}s that map data to pixels on linear scales with axes, shaded
 * bands, points, bars and markers. Output is plain SVG text (no script, no external asset), so a
 * report stays one self-contained file. Every text goes through {@link #esc}.
 */
public final class SvgChart {
    private final StringBuilder b = new StringBuilder(4096);
    private final int width;
    private final int height;

    public SvgChart(int width, int height, String label) {
        this.width = width;
        this.height = height;
        b.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(width).append("\" height=\"").append(height)
                .append("\" viewBox=\"0 0 ").append(width).append(' ').append(height).append("\" role=\"img\" aria-label=\"")
                .append(esc(label)).append("\" font-family=\"system-ui,sans-serif\">\n");
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** A rectangle in pixels; {@code title} (may be null) becomes its hover text. */
    public SvgChart rect(double x, double y, double w, double h, String fill, double opacity, String title) {
        b.append("<rect x=\"").append(n(x)).append("\" y=\"").append(n(y)).append("\" width=\"").append(n(Math.max(0, w)))
                .append("\" height=\"").append(n(Math.max(0, h))).append("\" fill=\"").append(fill).append('"');
        if (opacity < 1) {
            b.append(" fill-opacity=\"").append(n(opacity)).append('"');
        }
        return close(title, "rect");
    }

    public SvgChart line(double x1, double y1, double x2, double y2, String stroke, double strokeWidth) {
        b.append("<line x1=\"").append(n(x1)).append("\" y1=\"").append(n(y1)).append("\" x2=\"").append(n(x2))
                .append("\" y2=\"").append(n(y2)).append("\" stroke=\"").append(stroke).append("\" stroke-width=\"")
                .append(n(strokeWidth)).append("\"/>");
        return this;
    }

    public SvgChart circle(double cx, double cy, double r, String fill, String title) {
        b.append("<circle cx=\"").append(n(cx)).append("\" cy=\"").append(n(cy)).append("\" r=\"").append(n(r))
                .append("\" fill=\"").append(fill).append('"');
        return close(title, "circle");
    }

    /** Text at a pixel position; {@code anchor} is start, middle or end. */
    public SvgChart text(double x, double y, String text, int size, String anchor) {
        return text(x, y, text, size, anchor, "#222");
    }

    public SvgChart text(double x, double y, String text, int size, String anchor, String fill) {
        b.append("<text x=\"").append(n(x)).append("\" y=\"").append(n(y)).append("\" font-size=\"").append(size).append('"');
        if (!"start".equals(anchor)) {
            b.append(" text-anchor=\"").append(anchor).append('"');
        }
        if (!"#222".equals(fill)) {
            b.append(" fill=\"").append(fill).append('"');
        }
        b.append('>').append(esc(text)).append("</text>");
        return this;
    }

    /** A plot area at pixel ({@code left}, {@code top}) of size w × h showing x in [xMin, xMax] and y in [yMin, yMax]. */
    public Plot plot(double left, double top, double w, double h, double xMin, double xMax, double yMin, double yMax) {
        return new Plot(left, top, w, h, xMin, xMax, yMin, yMax);
    }

    /** The finished SVG element. */
    public String toSvg() {
        return b + "</svg>\n";
    }

    @Override
    public String toString() {
        return toSvg();
    }

    private SvgChart close(String title, String element) {
        if (title == null) {
            b.append("/>");
        } else {
            b.append("><title>").append(esc(title)).append("</title></").append(element).append('>');
        }
        b.append('\n');
        return this;
    }

    /** Data coordinates on linear scales; values outside the ranges are clamped to the area's edge. */
    public final class Plot {
        private final double left;
        private final double top;
        private final double w;
        private final double h;
        private final double xMin;
        private final double xMax;
        private final double yMin;
        private final double yMax;

        private Plot(double left, double top, double w, double h, double xMin, double xMax, double yMin, double yMax) {
            this.left = left;
            this.top = top;
            this.w = w;
            this.h = h;
            this.xMin = xMin;
            this.xMax = xMax > xMin ? xMax : xMin + 1;
            this.yMin = yMin;
            this.yMax = yMax > yMin ? yMax : yMin + 1;
        }

        public double x(double v) {
            return left + (Math.min(xMax, Math.max(xMin, v)) - xMin) / (xMax - xMin) * w;
        }

        public double y(double v) {
            return top + h - (Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin) * h;
        }

        public SvgChart chart() {
            return SvgChart.this;
        }

        /** The area's frame and light background. */
        public Plot frame() {
            rect(left, top, w, h, "#fbfbfb", 1, null);
            line(left, top + h, left + w, top + h, "#888", 1);
            line(left, top, left, top + h, "#888", 1);
            return this;
        }

        /** Tick labels along the bottom ({@code ticks} about evenly spaced, rounded) and the unit at the right end. */
        public Plot xAxis(int ticks, String unit) {
            for (double t : ticks(xMin, xMax, ticks)) {
                double px = x(t);
                line(px, top + h, px, top + h + 4, "#888", 1);
                text(px, top + h + 15, tickLabel(t), 10, "middle", "#555");
            }
            text(left + w, top + h + 28, unit, 10, "end", "#555");
            return this;
        }

        /** Tick labels along the left side with light grid lines, and the unit above the axis. */
        public Plot yAxis(int ticks, String unit) {
            for (double t : ticks(yMin, yMax, ticks)) {
                double py = y(t);
                line(left, py, left + w, py, "#eee", 1);
                text(left - 5, py + 3, tickLabel(t), 10, "end", "#555");
            }
            text(left - 5, top - 6, unit, 10, "end", "#555");
            return this;
        }

        /** A vertical band over the whole height between data x0 and x1 (a shaded time window). */
        public Plot band(double x0, double x1, String fill, double opacity, String title) {
            double a = x(x0);
            rect(a, top, Math.max(1, x(x1) - a), h, fill, opacity, title);
            return this;
        }

        /** A bar from data (x0, y0) to (x1, y1). */
        public Plot bar(double x0, double x1, double y0, double y1, String fill, String title) {
            double a = x(x0);
            double top1 = y(Math.max(y0, y1));
            rect(a, top1, Math.max(1, x(x1) - a), y(Math.min(y0, y1)) - top1, fill, 1, title);
            return this;
        }

        public Plot point(double xv, double yv, double r, String fill, String title) {
            circle(x(xv), y(yv), r, fill, title);
            return this;
        }

        /** A short vertical marker at data x, hanging from the top edge ({@code fromTop}) or standing on the bottom. */
        public Plot tick(double xv, boolean fromTop, double length, String stroke, String title) {
            double px = x(xv);
            double y0 = fromTop ? top : top + h - length;
            b.append("<line x1=\"").append(n(px)).append("\" y1=\"").append(n(y0)).append("\" x2=\"").append(n(px))
                    .append("\" y2=\"").append(n(y0 + length)).append("\" stroke=\"").append(stroke).append("\" stroke-width=\"2\"");
            close(title, "line");
            return this;
        }

        /** A text at data coordinates. */
        public Plot label(double xv, double yv, String text, int size, String anchor) {
            SvgChart.this.text(x(xv), y(yv), text, size, anchor);
            return this;
        }
    }

    /** Rounded tick values (1, 2, 5 × 10^n steps) covering [min, max], about {@code count} of them. */
    public static double[] ticks(double min, double max, int count) {
        double span = max - min;
        if (!(span > 0) || count < 1) {
            return new double[] {min};
        }
        double raw = span / count;
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
        double first = Math.ceil(min / step - 1e-9) * step;
        int n = (int) Math.floor((max - first) / step + 1e-9) + 1;
        double[] out = new double[Math.max(1, n)];
        for (int i = 0; i < out.length; i++) {
            out[i] = first + i * step;
        }
        return out;
    }

    private static String tickLabel(double v) {
        if (Math.abs(v - Math.rint(v)) < 1e-9) {
            return String.valueOf((long) Math.rint(v));
        }
        return String.format(Locale.ROOT, "%.2f", v).replaceAll("0+$", "");
    }

    private static String n(double v) {
        if (Math.abs(v - Math.rint(v)) < 1e-9) {
            return String.valueOf((long) Math.rint(v));
        }
        return String.format(Locale.ROOT, "%.2f", v);
    }

    /** HTML/XML escaping for text and attribute values. */
    public static String esc(String s) {
        StringBuilder out = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
