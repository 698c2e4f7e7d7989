package dev.livetap.simulation.trace;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * The trace of one run: every delivered message and every call into the in-memory OS, as one
 * canonical text line each, folded into a SHA-256. Lines carry the virtual time; identity hash
 * codes, actor UIDs, lambda class names, the run's index in the batch and JVM-wide counters are
 * removed, so the same run seed yields the same hash in any JVM, at any position of a batch.
 */
public final class TraceLog {
    private final MessageDigest digest;
    private final LongSupplier clock;
    private final List<String> lines;
    private final int keepMax;
    private long count;

    /** @param keepMax lines kept in memory for diagnosis (0: hash only) */
    public TraceLog(LongSupplier virtualNanos, int keepMax) {
        try {
            this.digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        this.clock = virtualNanos;
        this.keepMax = keepMax;
        this.lines = keepMax > 0 ? new ArrayList<>() : null;
    }

    public static String canonical(Object o) {
        return Canonical.strip(String.valueOf(o));
    }

    /** Adds one line: virtual time, then the text. */
    public void add(String text) {
        String line = clock.getAsLong() + " " + text;
        digest.update(line.getBytes(StandardCharsets.UTF_8));
        digest.update((byte) '\n');
        count++;
        if (lines != null && lines.size() < keepMax) {
            lines.add(line);
        }
    }

    public long count() {
        return count;
    }

    public List<String> lines() {
        return lines == null ? List.of() : List.copyOf(lines);
    }

    /** The hash so far (the digest goes on). */
    public byte[] hash() {
        try {
            return ((MessageDigest) digest.clone()).digest();
        } catch (CloneNotSupportedException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
