package dev.livetap.fleet.budget;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * At most {@link #limit()} switch-overs of one host in their freeze window at once; waiters are
 * served first come, first served. Fixed, or adaptive: a released permit reports the downtime it
 * saw and a {@link DowntimeController} (additive increase, multiplicative decrease on the p99 of a
 * sliding window of downtimes against the per-VM limit) sets the limit. After every change, the
 * releases of permits granted under the old limit are not counted (they describe the crowd of the
 * old limit, not the new one).
 */
public final class FreezeBudget {
    /** Downtimes the adaptive budget's p99 is taken over by default (fewer than 100 would make it the largest). */
    public static final int DEFAULT_WINDOW = 100;
    /** Changes of the limit kept for {@link #adjustments()}. */
    public static final int ADJUSTMENTS_KEPT = 1_000;

    /**
     * @param initial   the limit at the start
     * @param min       the limit never goes below (at least 1)
     * @param max       nor above
     * @param limitMs   the per-VM downtime limit the adaptation steers by
     * @param window    downtimes the adaptation's p99 is taken over
     * @param shrinkAt  a window p99 above {@code shrinkAt × limitMs} (or one downtime above {@code limitMs}) halves the limit
     * @param growBelow a window p99 below {@code growBelow × limitMs} adds one
     */
    public record Settings(int initial, int min, int max, double limitMs, int window, double shrinkAt, double growBelow) {
        public Settings {
            controllerSettings(initial, min, max, limitMs, window, shrinkAt, growBelow); // validates
        }

        /** Exactly {@code k} at once, never adapted. */
        public static Settings fixed(int k) {
            return new Settings(k, k, k, Double.MAX_VALUE / 4, 1, 0.8, 0.5);
        }

        /** Adaptive between 1 and {@code max}, starting at {@code initial}, steering to {@code limitMs}. */
        public static Settings adaptive(int initial, int max, double limitMs) {
            return adaptive(initial, max, limitMs, DEFAULT_WINDOW);
        }

        /** Adaptive, with the p99 over the last {@code window} downtimes. */
        public static Settings adaptive(int initial, int max, double limitMs, int window) {
            return new Settings(initial, 1, max, limitMs, window, 0.8, 0.5);
        }

        public boolean adaptive() {
            return min != max;
        }

        DowntimeController.Settings controller() {
            return controllerSettings(initial, min, max, limitMs, window, shrinkAt, growBelow);
        }

        private static DowntimeController.Settings controllerSettings(int initial, int min, int max, double limitMs, int window,
                double shrinkAt, double growBelow) {
            return new DowntimeController.Settings(initial, min, max, limitMs, window, shrinkAt, growBelow);
        }
    }

    /**
     * One change of the limit: after {@code released} releases, from → to, because of {@code downtimeMs}
     * (one downtime above the limit, or the window's p99).
     */
    public record Adjustment(long released, int from, int to, double downtimeMs) {
    }

    /** A granted place in the window; give it back with {@link #release}. */
    public static final class Permit {
        private final long generation;
        private boolean released;

        private Permit(long generation) {
            this.generation = generation;
        }
    }

    private final Settings settings;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Object> queue = new ArrayDeque<>();
    /** The latest {@link #ADJUSTMENTS_KEPT} changes (an agent lives for months: the list must not grow for ever). */
    private final ArrayDeque<Adjustment> adjustments = new ArrayDeque<>();
    private long adjustmentCount;
    private final DowntimeController controller;
    private int limit;
    private int inUse;
    private int maxInUse;
    private long released;
    /** Bumped by each change of the limit: permits of an older generation do not steer. */
    private long generation;

    public FreezeBudget(Settings settings) {
        this.settings = settings;
        this.controller = new DowntimeController(settings.controller());
        this.limit = settings.initial();
    }

    /**
     * Waits, first come first served, until a place is free; bounded by {@code timeout}.
     *
     * @throws TimeoutException when no place was granted in time (the caller must not switch over)
     */
    public Permit acquire(Duration timeout) throws TimeoutException, InterruptedException {
        Object ticket = new Object();
        long left = timeout.toNanos();
        lock.lock();
        try {
            queue.addLast(ticket);
            try {
                while (queue.peekFirst() != ticket || inUse >= limit) {
                    if (left <= 0) {
                        throw new TimeoutException("no freeze permit within " + timeout.toMillis() + " ms (" + inUse + " of "
                                + limit + " in use, " + (queue.size() - 1) + " other(s) waiting)");
                    }
                    left = changed.awaitNanos(left);
                }
            } finally {
                queue.remove(ticket);
                changed.signalAll(); // the next in line may proceed too
            }
            inUse++;
            maxInUse = Math.max(maxInUse, inUse);
            return new Permit(generation);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Gives the place back with the downtime the switch-over saw (negative: unknown, e.g. it failed;
     * it does not steer). Releasing twice is an error.
     */
    public void release(Permit permit, double downtimeMs) {
        lock.lock();
        try {
            if (permit.released) {
                throw new IllegalStateException("this freeze permit was already released");
            }
            permit.released = true;
            inUse--;
            released++;
            if (settings.adaptive() && downtimeMs >= 0 && permit.generation == generation) {
                steer(downtimeMs);
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void steer(double downtimeMs) {
        controller.observe(downtimeMs).ifPresent(c -> {
            adjustments.addLast(new Adjustment(released, c.from(), c.to(), c.downtimeMs()));
            if (adjustments.size() > ADJUSTMENTS_KEPT) {
                adjustments.removeFirst();
            }
            adjustmentCount++;
            limit = c.to();
            generation++;
        });
    }

    public Settings settings() {
        return settings;
    }

    public int limit() {
        lock.lock();
        try {
            return limit;
        } finally {
            lock.unlock();
        }
    }

    public int inUse() {
        lock.lock();
        try {
            return inUse;
        } finally {
            lock.unlock();
        }
    }

    /** The most places ever in use at once. */
    public int maxInUse() {
        lock.lock();
        try {
            return maxInUse;
        } finally {
            lock.unlock();
        }
    }

    /** Every change of the limit so far. */
    public long adjustmentCount() {
        lock.lock();
        try {
            return adjustmentCount;
        } finally {
            lock.unlock();
        }
    }

    /** The latest changes of the limit (at most {@link #ADJUSTMENTS_KEPT}), oldest first. */
    public List<Adjustment> adjustments() {
        lock.lock();
        try {
            return List.copyOf(adjustments);
        } finally {
            lock.unlock();
        }
    }
}
