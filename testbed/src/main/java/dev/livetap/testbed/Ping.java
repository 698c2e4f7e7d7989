package dev.livetap.testbed;

import dev.livetap.report.Percentiles;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one place that runs iputils {@code ping} and reads what it printed: command lines
 * ({@link #once}), a ping in the background ({@link #start}, stopped with SIGINT so that it prints
 * its totals), its totals ({@link #totals}), the 16-bit {@code icmp_seq} unwrapped
 * ({@link SeqUnwrap}), and a parsed {@code ping -D} log (this class's instances).
 *
 * <p>A parsed log is what iputils {@code ping -D} printed: per request its send time (reply timestamp minus RTT,
 * interpolated for requests never answered) and RTT, plus ping's own transmitted/received
 * totals. Times are converted to CLOCK_MONOTONIC nanoseconds with an offset measured when the
 * run started, so that they can be compared with the freeze windows the VMMs report.
 */
public final class Ping {
    private static final Pattern TOTALS_ANYWHERE = Pattern.compile("(\\d+) packets transmitted, (\\d+) received");

    private static final Pattern NO_ANSWER = Pattern.compile("^\\[(\\d+)\\.(\\d+)\\] no answer yet for icmp_seq=(\\d+)");

    /**
     * One line of {@code ping -D}: a reply (its wall time, raw icmp_seq, RTT, whether ping marked it
     * {@code DUP!}) or, with {@code -O}, a request still unanswered when the next left ({@code rttNanos} -1).
     */
    public record Line(long wallNanos, int rawSeq, long rttNanos, boolean duplicate) {
        public boolean answered() {
            return rttNanos >= 0;
        }
    }

    /** The reply or "no answer yet" in {@code text}; empty for any other line. */
    public static Optional<Line> line(String text) {
        String t = text.trim();
        Matcher m = REPLY.matcher(t);
        if (m.matches()) {
            return Optional.of(new Line(Long.parseLong(m.group(1)) * 1_000_000_000L + fractionToNanos(m.group(2)),
                    Integer.parseInt(m.group(3)), Math.round(Double.parseDouble(m.group(4)) * 1_000_000.0),
                    m.group(5).contains("DUP!")));
        }
        Matcher n = NO_ANSWER.matcher(t);
        if (n.find()) {
            return Optional.of(new Line(Long.parseLong(n.group(1)) * 1_000_000_000L + fractionToNanos(n.group(2)),
                    Integer.parseInt(n.group(3)), -1, false));
        }
        return Optional.empty();
    }

    /** ping's own totals line. */
    public record Totals(int transmitted, int received) {
        public int lost() {
            return transmitted - received;
        }
    }

    /** {@code ping -n -c 1 -W 1 ADDRESS}: one request, a second to answer. */
    public static List<String> once(String address) {
        return List.of("ping", "-n", "-c", "1", "-W", "1", address);
    }

    /** {@code ping -n -c COUNT -i INTERVAL -W 1 -w DEADLINE ADDRESS}, bounded by {@link #deadline}. */
    public static List<String> counted(String address, int count, double intervalSeconds) {
        return List.of("ping", "-n", "-c", String.valueOf(count), "-i", String.valueOf(intervalSeconds), "-W", "1", "-w",
                String.valueOf(deadline(count, intervalSeconds).toSeconds()), address);
    }

    /** How long a {@link #counted} ping may run: its requests' span plus 5 s. */
    public static Duration deadline(int count, double intervalSeconds) {
        return Duration.ofSeconds((long) Math.ceil(count * intervalSeconds) + 5);
    }

    /** The totals line in {@code output}; empty when ping printed none (it was killed, or never started). */
    public static Optional<Totals> totals(String output) {
        Matcher m = TOTALS_ANYWHERE.matcher(output);
        return m.find() ? Optional.of(new Totals(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))))
                : Optional.empty();
    }

    /**
     * Unwraps iputils' 16-bit {@code icmp_seq} in the order ping printed the numbers: a drop by more
     * than half the span is a wrap (65535 -> 0), a jump up by more than half is a late reply from
     * before the last wrap.
     */
    public static final class SeqUnwrap {
        private int wraps;
        private int lastRaw = -1;

        /** The unwrapped sequence number of the next printed {@code raw} icmp_seq. */
        public int next(int raw) {
            int epoch = wraps;
            if (lastRaw >= 0 && raw < lastRaw - SEQ_SPAN / 2) {
                epoch = ++wraps;
            } else if (lastRaw >= 0 && raw > lastRaw + SEQ_SPAN / 2 && wraps > 0) {
                epoch = wraps - 1;
            }
            if (epoch == wraps) {
                lastRaw = raw;
            }
            return raw + epoch * SEQ_SPAN;
        }
    }

    /**
     * Starts {@code command} (a ping command line, usually wrapped into a namespace) in the background,
     * stdout and stderr into {@code out}, stdin closed.
     */
    public static Running start(List<String> command, Path out) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        return new Running(p, out);
    }

    /** A ping running in the background; {@link #close()} kills it if it still runs. */
    public static final class Running implements AutoCloseable {
        private final Process process;
        private final Path out;

        private Running(Process process, Path out) {
            this.process = process;
            this.out = out;
        }

        public long pid() {
            return process.pid();
        }

        public boolean isAlive() {
            return process.isAlive();
        }

        /** SIGINT (ping prints its totals; {@code ip netns exec} and {@code nice} exec it, so the pid is ping's), then waits. */
        public void interrupt(Duration timeout) throws InterruptedException {
            if (process.isAlive()) {
                HostCommand.run(Duration.ofSeconds(5), List.of("kill", "-INT", String.valueOf(process.pid())));
            }
            awaitExit(timeout);
        }

        /** Waits for ping to end by itself; false (and ping killed) when {@code timeout} passes first. */
        public boolean awaitExit(Duration timeout) throws InterruptedException {
            if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return true;
            }
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            return false;
        }

        /** What ping printed so far. */
        public String output() throws IOException {
            return Files.readString(out, StandardCharsets.UTF_8);
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

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
        SeqUnwrap unwrap = new SeqUnwrap();
        for (String text : lines) {
            Optional<Line> parsed = line(text);
            if (parsed.isPresent()) {
                Line l = parsed.get();
                if (!l.answered() || l.duplicate()) {
                    continue;
                }
                int seq = unwrap.next(l.rawSeq());
                bySeq.put(seq, new Request(seq, l.wallNanos() - l.rttNanos() - wallMinusMonotonicNanos, l.rttNanos()));
                continue;
            }
            Matcher t = TOTALS.matcher(text.trim());
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

    /**
     * The largest gap between two consecutive replies' arrivals (send time + RTT), in ms: the freeze
     * the guest's answers show. 0 with fewer than two replies.
     */
    public double largestReplyGapMs() {
        long[] arrivals = requests.stream().filter(Request::answered).mapToLong(r -> r.sentNanos() + r.rttNanos()).sorted()
                .toArray();
        long gap = 0;
        for (int i = 1; i < arrivals.length; i++) {
            gap = Math.max(gap, arrivals[i] - arrivals[i - 1]);
        }
        return gap / 1e6;
    }

    /** The median RTT in ms: the undisturbed path, against which the freezes' extra delay is read. */
    public double rttMedianMs() {
        double[] rttsMs = requests.stream().filter(Request::answered).mapToDouble(r -> r.rttNanos() / 1e6).toArray();
        return rttsMs.length == 0 ? 0 : Percentiles.of(rttsMs).p50();
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
