package dev.livetap.testbed;

import java.time.Duration;

/**
 * The one bounded wait of the harness: check a condition, nap, check again (the nap doubling from
 * {@code firstPause} up to {@code maxPause}), until it holds or the time is up. Waits on events
 * (QMP, process exit) need none of this; it is for what the host only shows by polling (/proc, the
 * file system, {@code ip link}).
 */
public final class Retry {
    /** A condition checked between naps. */
    @FunctionalInterface
    public interface Condition<E extends Exception> {
        boolean holds() throws E;
    }

    private Retry() {
    }

    /**
     * True as soon as {@code condition} holds (checked at once, then after each nap of {@code pause});
     * false when it still does not after {@code timeout}, or when the thread is interrupted (the
     * interrupt stays set).
     */
    public static <E extends Exception> boolean until(Duration timeout, Duration pause, Condition<E> condition) throws E {
        return until(timeout, pause, pause, condition);
    }

    /** {@link #until(Duration, Duration, Condition)} with the nap doubling from {@code firstPause} to {@code maxPause}. */
    public static <E extends Exception> boolean until(Duration timeout, Duration firstPause, Duration maxPause,
            Condition<E> condition) throws E {
        long deadline = System.nanoTime() + timeout.toNanos();
        long pauseNanos = Math.max(1, firstPause.toNanos());
        while (true) {
            if (condition.holds()) {
                return true;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            try {
                Thread.sleep(Duration.ofNanos(Math.min(pauseNanos, left)).toMillis(), (int) (Math.min(pauseNanos, left) % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            pauseNanos = Math.min(pauseNanos * 2, Math.max(pauseNanos, maxPause.toNanos()));
        }
    }
}
