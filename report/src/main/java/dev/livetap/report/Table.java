package dev.livetap.report;

import java.util.ArrayList;
import java.util.List;

/** A plain-text table with aligned columns, for the command line's summaries. */
public final class Table {
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    public Table(String... header) {
        this.header = List.of(header);
    }

    public Table row(Object... cells) {
        if (cells.length != header.size()) {
            throw new IllegalArgumentException("row has " + cells.length + " cells, header " + header.size());
        }
        List<String> r = new ArrayList<>();
        for (Object c : cells) {
            r.add(c instanceof Double d ? format(d) : String.valueOf(c));
        }
        rows.add(r);
        return this;
    }

    /** Numbers with three significant decimals at most; NaN as a dash. */
    public static String format(double d) {
        if (Double.isNaN(d)) {
            return "-";
        }
        if (d == Math.rint(d) && Math.abs(d) < 1e15) {
            return String.valueOf((long) d);
        }
        return String.format(java.util.Locale.ROOT, "%.3f", d);
    }

    @Override
    public String toString() {
        int[] width = new int[header.size()];
        for (int i = 0; i < width.length; i++) {
            width[i] = header.get(i).length();
            for (List<String> r : rows) {
                width[i] = Math.max(width[i], r.get(i).length());
            }
        }
        StringBuilder sb = new StringBuilder();
        line(sb, header, width);
        StringBuilder rule = new StringBuilder();
        for (int i = 0; i < width.length; i++) {
            rule.append(i == 0 ? "" : "  ").append("-".repeat(width[i]));
        }
        sb.append(rule).append('\n');
        rows.forEach(r -> line(sb, r, width));
        return sb.toString();
    }

    private static void line(StringBuilder sb, List<String> cells, int[] width) {
        for (int i = 0; i < cells.size(); i++) {
            String c = cells.get(i);
            // first column left-aligned (labels), the rest right-aligned (numbers)
            sb.append(i == 0 ? "" : "  ").append(i == 0 ? pad(c, width[i], false) : pad(c, width[i], true));
        }
        sb.append('\n');
    }

    private static String pad(String s, int w, boolean right) {
        String fill = " ".repeat(Math.max(0, w - s.length()));
        return right ? fill + s : s + fill;
    }
}
