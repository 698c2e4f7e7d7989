package dev.livetap.fleet.budget;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * At most {@link #limit()} switch-overs of one host in their freeze window at once; waiters are
 * served first come, first served. Fixed, or adaptive (additive increase, multiplicative decrease):
 * a released permit reports the downtime it saw; a downtime above {@code shrinkAt × limitMs} halves
 * the limit, and {@code limit} downtimes in a row below {@code growBelow × limitMs} add one. After a
 * decrease, the releases of permits granted under the old limit are not counted (they describe the
 * crowd that caused the decrease, not the new limit).
 */
public final class FreezeBudget {
    /**
     * @param initial     the limit at the start
     * @param min         the limit never goes below (at least 1)
     * @param max         nor above
     * @param limitMs     the per-VM downtime limit the adaptation steers by
     * @param shrinkAt    a downtime above {@code shrinkAt × limitMs} halves the limit
     * @param growBelow   {@code limit} downtimes in a row below {@code growBelow × limitMs} add one
     */
    public record Settings(int initial, int min, int max, double limitMs, double shrinkAt, double growBelow) {
        public Settings {
            if (min < 1 || max < min || initial < min || initial > max) {
                throw new IllegalArgumentException("1 <= min <= initial <= max is required: " + min + ", " + initial + ", " + max);
            }
            if (!(limitMs > 0) || !(growBelow > 0) || !(shrinkAt > growBelow)) {
                throw new IllegalArgumentException("limitMs > 0 and 0 < growBelow < shrinkAt are required: " + limitMs + ", "
                        + growBelow + ", " + shrinkAt);
            }
        }

        /** Exactly {@code k} at once, never adapted. */
        public static Settings fixed(int k) {
            return new Settings(k, k, k, Double.MAX_VALUE / 4, 1.0, 0.5);
        }

        /** Adaptive between 1 and {@code max}, starting at {@code initial}, steering to {@code limitMs}. */
        public static Settings adaptive(int initial, int max, double limitMs) {
            return new Settings(initial, 1, max, limitMs, 0.8, 0.4);
        }

        public boolean adaptive() {
            return min != max;
        }
    }

    /** One change of the limit: after {@code released} releases, from → to, because of {@code downtimeMs}. */
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
    private final List<Adjustment> adjustments = new ArrayList<>();
    private int limit;
    private int inUse;
    private int maxInUse;
    private int calmInARow;
    private long released;
    /** Bumped by each decrease: permits of an older generation do not steer. */
    private long generation;

    public FreezeBudget(Settings settings) {
        this.settings = settings;
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
        if (downtimeMs > settings.shrinkAt() * settings.limitMs()) {
            calmInARow = 0;
            int to = Math.max(settings.min(), limit / 2);
            if (to != limit) {
                adjustments.add(new Adjustment(released, limit, to, downtimeMs));
                limit = to;
            }
            generation++;
        } else if (downtimeMs < settings.growBelow() * settings.limitMs()) {
            if (++calmInARow >= limit && limit < settings.max()) {
                adjustments.add(new Adjustment(released, limit, limit + 1, downtimeMs));
                limit++;
                calmInARow = 0;
            }
        } else {
            calmInARow = 0;
        }
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

    public List<Adjustment> adjustments() {
        lock.lock();
        try {
            return List.copyOf(adjustments);
        } finally {
            lock.unlock();
        }
    }
}
