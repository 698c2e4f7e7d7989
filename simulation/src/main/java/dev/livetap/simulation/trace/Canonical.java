package dev.livetap.simulation.trace;

/**
 * Removes from a message's text what is not a function of the run seed, in one pass without
 * regular expressions (the regex took a quarter of the simulation's CPU). It removes exactly what
 * {@link #REFERENCE} matches, alternative by alternative, leftmost first (CanonicalTest compares
 * both on real trace lines and random strings):
 * identity hashes and actor UIDs ({@code #-?\d+}, {@code @[0-9a-f]+}: an identity hash below 0x1000 prints
 * as 1 to 3 hex digits, {@code [B@7ba}, and slipped through the earlier {@code {4,}} about once a batch), lambda class names
 * ({@code $$Lambda...}, {@code Lambda$N/0x...}), addresses ({@code 0x} + 8 or more hex digits), Pekko's
 * JVM-wide stream counters ({@code StreamSupervisor-N}, {@code flow-N-M}), the run's name prefix
 * ({@code /user/rN-}) and the worker's system name ({@code livetap-sim-N}).
 */
public final class Canonical {
    /** The specification (and the previous implementation). */
    public static final String REFERENCE = "#-?\\d+|@[0-9a-f]+|\\$\\$Lambda[^\\s,\\])]*|Lambda\\$\\d+/0x[0-9a-f]+|0x[0-9a-f]{8,}"
            + "|(?<=StreamSupervisor-)\\d+|(?<=flow-)\\d+-\\d+|/user/r\\d+-|livetap-sim-\\d+";

    private Canonical() {
    }

    public static String strip(String s) {
        StringBuilder out = null;
        int copied = 0;
        int n = s.length();
        int i = 0;
        while (i < n) {
            int end = matchAt(s, i, n);
            if (end < 0) {
                i++;
                continue;
            }
            if (out == null) {
                out = new StringBuilder(n);
            }
            out.append(s, copied, i);
            copied = end;
            i = end;
        }
        if (out == null) {
            return s;
        }
        return out.append(s, copied, n).toString();
    }

    /** The end of the match starting at {@code i} (the first alternative that matches), or -1. */
    private static int matchAt(String s, int i, int n) {
        char c = s.charAt(i);
        int e;
        switch (c) {
            case '#' -> {
                int j = i + 1;
                if (j < n && s.charAt(j) == '-') {
                    j++;
                }
                e = digits(s, j, n);
                if (e > j) {
                    return e;
                }
            }
            case '@' -> {
                e = hex(s, i + 1, n);
                if (e > i + 1) {
                    return e;
                }
            }
            case '$' -> {
                if (s.startsWith("$$Lambda", i)) {
                    int j = i + 8;
                    while (j < n && !stopsLambda(s.charAt(j))) {
                        j++;
                    }
                    return j;
                }
            }
            case 'L' -> {
                if (s.startsWith("Lambda$", i)) {
                    int d = digits(s, i + 7, n);
                    if (d > i + 7 && s.startsWith("/0x", d)) {
                        e = hex(s, d + 3, n);
                        if (e > d + 3) {
                            return e;
                        }
                    }
                }
            }
            case '/' -> {
                if (s.startsWith("/user/r", i)) {
                    int d = digits(s, i + 7, n);
                    if (d > i + 7 && d < n && s.charAt(d) == '-') {
                        return d + 1;
                    }
                }
            }
            case 'l' -> {
                if (s.startsWith("livetap-sim-", i)) {
                    e = digits(s, i + 12, n);
                    if (e > i + 12) {
                        return e;
                    }
                }
            }
            default -> {
            }
        }
        if (c >= '0' && c <= '9') {
            if (c == '0' && i + 1 < n && s.charAt(i + 1) == 'x') {
                e = hex(s, i + 2, n);
                if (e - (i + 2) >= 8) {
                    return e;
                }
            }
            if (s.startsWith("StreamSupervisor-", i - 17) && i >= 17) {
                return digits(s, i, n);
            }
            if (i >= 5 && s.startsWith("flow-", i - 5)) {
                int d = digits(s, i, n);
                if (d < n && s.charAt(d) == '-') {
                    int f = digits(s, d + 1, n);
                    if (f > d + 1) {
                        return f;
                    }
                }
            }
        }
        return -1;
    }

    private static int digits(String s, int j, int n) {
        while (j < n && s.charAt(j) >= '0' && s.charAt(j) <= '9') {
            j++;
        }
        return j;
    }

    private static int hex(String s, int j, int n) {
        while (j < n && ((s.charAt(j) >= '0' && s.charAt(j) <= '9') || (s.charAt(j) >= 'a' && s.charAt(j) <= 'f'))) {
            j++;
        }
        return j;
    }

    /** {@code [\s,\])]}: Java's \s is [ \t\n\x0B\f\r]. */
    private static boolean stopsLambda(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r' || c == ',' || c == ']' || c == ')';
    }
}
