package dev.livetap.testbed.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * Writes numbered probe frames into the demo's TAP from the namespace side: a small perl-base
 * script ({@code probe.pl}, started with {@code ip netns exec}, design decision 6) sends K ICMP
 * echo requests with its own identifier and a marker payload to the guest's address over a raw
 * socket, so the kernel routes them into the TAP, and then records which ones were answered.
 * The process is started before the hold ({@link #prepare}); in the hold {@link #fire} only lets it
 * send and returns once every send() returned ("sent K"), i.e. the frames are in the TAP.
 */
final class ProbeWriter implements AutoCloseable {
    /** How long a probe process waits for answers: the baseline's probes never get one. */
    static final int ANSWER_WAIT_S = 2;
    private static final long SENT_TIMEOUT_NANOS = 5_000_000_000L;

    private final String ip;
    private final String ns;
    private final Path dir;
    private final Path script;
    private final List<Batch> batches = new ArrayList<>();

    /** One probe process: K requests with one identifier, its output file. */
    record Batch(int migration, int count, int icmpId, Process process, Path out) {
        /** The sequence numbers (1..K) answered so far, from the process's output. */
        TreeSet<Integer> answered() throws IOException {
            TreeSet<Integer> seqs = new TreeSet<>();
            for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
                if (line.startsWith("answer ")) {
                    seqs.add(Integer.parseInt(line.substring(7).trim()));
                }
            }
            return seqs;
        }
    }

    ProbeWriter(String ip, String ns, Path dir) throws IOException {
        this.ip = ip;
        this.ns = ns;
        this.dir = dir;
        this.script = dir.resolve("probe.pl");
        try (InputStream in = ProbeWriter.class.getResourceAsStream("probe.pl")) {
            if (in == null) {
                throw new IOException("probe.pl missing from the classpath");
            }
            Files.write(script, in.readAllBytes());
        }
    }

    /**
     * Starts the probe process for migration {@code migration} ahead of the hold: it opens its
     * socket and waits for {@link #fire}; returns once it said {@code ready}.
     */
    Batch prepare(int migration, int count, int icmpId) throws IOException, TimeoutException {
        Path out = dir.resolve(ns + "-probe-" + migration + ".out");
        Process p = new ProcessBuilder(ip, "netns", "exec", ns, "perl", script.toString(), DemoRun.GUEST,
                String.valueOf(count), String.valueOf(icmpId), String.valueOf(ANSWER_WAIT_S))
                .redirectOutput(out.toFile()).redirectErrorStream(true).start();
        Batch b = new Batch(migration, count, icmpId, p, out);
        synchronized (this) {
            batches.add(b);
        }
        awaitLine(b, "ready");
        return b;
    }

    /** Lets a prepared batch send its probes; returns once every send() returned ("sent K"). */
    static void fire(Batch b) throws IOException, TimeoutException {
        OutputStream in = b.process().getOutputStream();
        in.write("go\n".getBytes(StandardCharsets.US_ASCII));
        in.flush();
        in.close();
        awaitLine(b, "sent " + b.count());
    }

    /** A prepared batch that will not be fired (its migration ended before a hold): it exits without sending. */
    static void discard(Batch b) {
        try {
            b.process().getOutputStream().close();
        } catch (IOException e) {
            b.process().destroyForcibly();
        }
    }

    private static void awaitLine(Batch b, String line) throws IOException, TimeoutException {
        long deadline = System.nanoTime() + SENT_TIMEOUT_NANOS;
        while (true) {
            String text = Files.readString(b.out(), StandardCharsets.UTF_8);
            if (text.contains(line)) {
                return;
            }
            if (!b.process().isAlive() && !Files.readString(b.out(), StandardCharsets.UTF_8).contains(line)) {
                throw new IOException("probe writer exited (" + b.process().exitValue() + ") before '" + line + "': " + text.strip());
            }
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("probe writer did not say '" + line + "' within 5 s: " + text.strip());
            }
            LockSupport.parkNanos(200_000);
        }
    }

    /** Waits (bounded) until the batch's process ended: every answer that will come is recorded. */
    static void awaitDone(Batch b) throws InterruptedException {
        if (!b.process().waitFor(ANSWER_WAIT_S + 3L, TimeUnit.SECONDS)) {
            b.process().destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Override
    public synchronized void close() {
        for (Batch b : batches) {
            b.process().destroyForcibly();
        }
    }
}
