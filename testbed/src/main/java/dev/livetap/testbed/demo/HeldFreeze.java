package dev.livetap.testbed.demo;

import java.io.IOException;
import java.util.concurrent.TimeoutException;

/**
 * What the demo did while one source held its freeze in {@code pre-switchover}: the status
 * {@code query-migrate} reported just before and just after the probe writes, the writes'
 * window and the moment the demo let go ({@code migrate-continue} follows), all CLOCK_MONOTONIC
 * ns, and how many of the probes the guest answered afterwards.
 */
public record HeldFreeze(String statusBefore, String statusAfter, int probesWritten, long writeStartNanos,
        long writeEndNanos, long releasedNanos, int probesAnswered) {
    public static final String PRE_SWITCHOVER = "pre-switchover";

    /** Reads the source's migration status (a {@code query-migrate} round trip). */
    @FunctionalInterface
    public interface Status {
        String read() throws IOException, TimeoutException;
    }

    /** Writes the probes into the TAP; returns how many were written once all are. */
    @FunctionalInterface
    public interface Writer {
        int write() throws IOException, TimeoutException;
    }

    /**
     * The hold: status checked, probes written only if it is {@code pre-switchover}, status checked
     * again. Never throws for a wrong status: the record says what happened and {@link #held}
     * judges it.
     */
    public static HeldFreeze hold(Status status, Writer writer) throws IOException, TimeoutException {
        String before = status.read();
        if (!PRE_SWITCHOVER.equals(before)) {
            long now = System.nanoTime();
            return new HeldFreeze(before, before, 0, now, now, now, 0);
        }
        long start = System.nanoTime();
        int written = writer.write();
        long end = System.nanoTime();
        String after = status.read();
        return new HeldFreeze(before, after, written, start, end, System.nanoTime(), 0);
    }

    public HeldFreeze withAnswered(int answered) {
        return new HeldFreeze(statusBefore, statusAfter, probesWritten, writeStartNanos, writeEndNanos, releasedNanos, answered);
    }

    /**
     * The probes that provably went into the TAP while the VM was frozen: QMP said
     * {@code pre-switchover} before and after the writes, and the writes lie inside the freeze
     * window the VMMs stamped themselves (source queues stopped .. target queues started).
     * Anything else counts as no probe in this freeze.
     */
    public int held(long sourceStoppedNanos, long targetStartedNanos) {
        boolean statusHeld = PRE_SWITCHOVER.equals(statusBefore) && PRE_SWITCHOVER.equals(statusAfter);
        boolean insideStamps = sourceStoppedNanos > 0 && sourceStoppedNanos <= writeStartNanos
                && targetStartedNanos > 0 && writeEndNanos <= targetStartedNanos;
        return statusHeld && insideStamps ? probesWritten : 0;
    }

    /** The held part of the freeze: source stop to the demo's release (ms), -1 without a stamp. */
    public double heldMs(long sourceStoppedNanos) {
        return sourceStoppedNanos > 0 && releasedNanos >= sourceStoppedNanos ? (releasedNanos - sourceStoppedNanos) / 1e6 : -1;
    }
}
