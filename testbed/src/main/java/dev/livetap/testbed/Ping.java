package dev.livetap.testbed;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What iputils {@code ping -D} printed: per request its send time (reply timestamp minus RTT,
 * interpolated for requests never answered) and RTT, plus ping's own transmitted/received
 * totals. Times are converted to CLOCK_MONOTONIC nanoseconds with an offset measured when the
 * run started, so that they can be compared with the freeze windows the VMMs report.
 */
public final class Ping {
    private static final Pattern REPLY = Pattern.compile(
            "^\\[(\\d+)\\.(\\d+)\\] \\d+ bytes from [^:]+: icmp_seq=(\\d+) .*time=([0-9.]+) ms(.*)$");
    private static final Pattern TOTALS = Pattern.compile("^(\\d+) packets transmitted, (\\d+) received.*$");
    /** icmp_seq values: 16 bits. */
    static final int SEQ_SPAN = 65_536;

    /** One request: its sequence number, when it was sent (monotonic ns), and its RTT (ns) or -1 if lost. */
    public record Request(int seq, long sentNanos, long rttNanos) {
        public boolean answered() {
            return rttNanos >= 0;
        }
    }

    private final List<Request> requests;
    private final int transmitted;
    private final int received;

    private Ping(List<Request> requests, int transmitted, int received) {
        this.requests = requests;
        this.transmitted = transmitted;
        this.received = received;
    }

    /**
     * @param lines ping's standard output
     * @param wallMinusMonotonicNanos wall-clock ns minus CLOCK_MONOTONIC ns, measured together
     * @param intervalNanos ping's -i, used to place unanswered requests between answered ones
     */
    public static Ping parse(List<String> lines, long wallMinusMonotonicNanos, long intervalNanos) {
        TreeMap<Integer, Request> bySeq = new TreeMap<>();
        int transmitted = -1;
        int received = -1;
        // icmp_seq is 16 bits: at -i 0.001 it wraps after 65.5 s, and a wrapped number must not take the
        // place of the request that had it first (the first freezes then looked empty of requests).
        int wraps = 0;
        int lastRaw = -1;
        for (String line : lines) {
            Matcher m = REPLY.matcher(line.trim());
            if (m.matches()) {
                if (m.group(5).contains("DUP!")) {
                    continue;
                }
                long wallNanos = Long.parseLong(m.group(1)) * 1_000_000_000L + fractionToNanos(m.group(2));
                long rtt = Math.round(Double.parseDouble(m.group(4)) * 1_000_000.0);
                int raw = Integer.parseInt(m.group(3));
                int epoch = wraps;
                if (lastRaw >= 0 && raw < lastRaw - SEQ_SPAN / 2) {
                    epoch = ++wraps; // 65535 -> 0
                } else if (lastRaw >= 0 && raw > lastRaw + SEQ_SPAN / 2 && wraps > 0) {
                    epoch = wraps - 1; // a late reply from before the last wrap
                }
                if (epoch == wraps) {
                    lastRaw = raw;
                }
                int seq = raw + epoch * SEQ_SPAN;
                bySeq.put(seq, new Request(seq, wallNanos - rtt - wallMinusMonotonicNanos, rtt));
                continue;
            }
            Matcher t = TOTALS.matcher(line.trim());
            if (t.matches()) {
                transmitted = Integer.parseInt(t.group(1));
                received = Integer.parseInt(t.group(2));
            }
        }
        if (transmitted < 0) {
            throw new IllegalArgumentException("ping printed no statistics line (was it killed?)");
        }
        List<Request> all = new ArrayList<>();
        Request previous = null;
        for (int seq = 1; seq <= transmitted; seq++) {
            Request r = bySeq.get(seq);
            if (r == null) {
                // Never answered: spread evenly between the answered neighbours (ping backs off while no
                // reply comes, so the nominal interval would misplace them); at the ends, one interval on.
                var next = bySeq.higherEntry(seq);
                long sent;
                if (previous != null && next != null) {
                    long gap = next.getValue().sentNanos() - previous.sentNanos();
                    sent = previous.sentNanos() + gap / (next.getKey() - previous.seq());
                } else {
                    sent = previous != null ? previous.sentNanos() + intervalNanos : estimateFirst(bySeq, seq, intervalNanos);
                }
                r = new Request(seq, sent, -1);
            }
            all.add(r);
            previous = r;
        }
        return new Ping(Collections.unmodifiableList(all), transmitted, received);
    }

    private static long estimateFirst(TreeMap<Integer, Request> bySeq, int seq, long intervalNanos) {
        var next = bySeq.ceilingEntry(seq);
        return next == null ? 0 : next.getValue().sentNanos() - (long) (next.getKey() - seq) * intervalNanos;
    }

    private static long fractionToNanos(String digits) {
        String nine = (digits + "000000000").substring(0, 9);
        return Long.parseLong(nine);
    }

    public List<Request> requests() {
        return requests;
    }

    public int transmitted() {
        return transmitted;
    }

    public int received() {
        return received;
    }

    public int lost() {
        return transmitted - received;
    }

    /** The largest RTT seen, in ms (0 when nothing was answered). */
    public double rttMaxMs() {
        return requests.stream().filter(Request::answered).mapToLong(Request::rttNanos).max().orElse(0) / 1e6;
    }

    /** The median RTT in ms: the undisturbed path, against which the freezes' extra delay is read. */
    public double rttMedianMs() {
        long[] rtts = requests.stream().filter(Request::answered).mapToLong(Request::rttNanos).sorted().toArray();
        return rtts.length == 0 ? 0 : rtts[rtts.length / 2] / 1e6;
    }

    /**
     * Unanswered requests after the last answered one that were sent at or after {@code nanos}
     * (monotonic): ping was stopped (SIGINT) while they were in flight. The demo stops ping well
     * after the last migration and passes the stop time minus a few RTTs, so these are cut off by
     * the stop, not lost by a migration; anything unanswered earlier still counts as lost.
     */
    public int cutOffAfter(long nanos) {
        int n = 0;
        for (int i = requests.size() - 1; i >= 0 && !requests.get(i).answered() && requests.get(i).sentNanos() >= nanos; i--) {
            n++;
        }
        return n;
    }

    /** Requests sent inside any of the windows [start, end] (monotonic ns). */
    public int requestsInside(List<long[]> windows) {
        int n = 0;
        for (Request r : requests) {
            for (long[] w : windows) {
                if (r.sentNanos() >= w[0] && r.sentNanos() <= w[1]) {
                    n++;
                    break;
                }
            }
        }
        return n;
    }
}
