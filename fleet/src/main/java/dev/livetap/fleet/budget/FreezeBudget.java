package dev.livetap.fleet.budget;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * At most {@link #limit()} switch-overs of one host in their freeze window at once; waiters are
 * served first come, first served. Fixed, or adaptive: a released permit reports the downtime it
 * saw and a {@link DowntimeController} (additive increase, multiplicative decrease on the p99 of a
 * sliding window of downtimes against the per-VM limit) sets the limit. After every change, the
 * releases of permits granted under the old limit are not counted (they describe the crowd of the
 * old limit, not the new one).
 *
 * <p>Beside the freeze window the budget also bounds the <em>runs</em>: with a {@link LookAhead}, at most
 * {@link #runBound()} = K + L migrations of the host are in their driver run at all (QMP set-up included; a run
 * holds a {@link RunPlace} from before the driver connects to the VMMs until it returns), L following K when K adapts.
 * The drivers preparing beside a frozen VM compete with it for the host's cores; the look-ahead keeps enough of
 * them ready for the next switch-over and no more.
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
     * @param lookAhead how many runs beside the K in their window may be under way at once
     */
    public record Settings(int initial, int min, int max, double limitMs, int window, double shrinkAt, double growBelow,
            LookAhead lookAhead) {
        public Settings {
            controllerSettings(initial, min, max, limitMs, window, shrinkAt, growBelow); // validates
            if (lookAhead == null) {
                throw new IllegalArgumentException("a look-ahead is required (LookAhead.NONE: runs are not bounded)");
            }
        }

        /** Runs not bounded ({@link LookAhead#NONE}). */
        public Settings(int initial, int min, int max, double limitMs, int window, double shrinkAt, double growBelow) {
            this(initial, min, max, limitMs, window, shrinkAt, growBelow, LookAhead.NONE);
        }

        /** The same budget with at most K + {@code value} migrations in their driver run at once. */
        public Settings withLookAhead(LookAhead value) {
            return new Settings(initial, min, max, limitMs, window, shrinkAt, growBelow, value);
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
     * L, the runs allowed beside the K switch-overs in their window: {@link #NONE} (not bounded, the way before the
     * look-ahead), {@link #AUTO} (L = K, following an adaptive K), or a fixed {@code places} ≥ 0.
     */
    public record LookAhead(String kind, int places) {
        /** Runs are not bounded: every driver thread prepares at once. */
        public static final LookAhead NONE = new LookAhead("none", 0);
        /** L = K: as many prepare as may be frozen; follows K when the budget adapts. */
        public static final LookAhead AUTO = new LookAhead("auto", 0);

        public LookAhead {
            if (!kind.equals("none") && !kind.equals("auto") && !kind.equals("fixed") || places < 0) {
                throw new IllegalArgumentException("a look-ahead is none, auto or a count of places >= 0, not " + kind
                        + " " + places);
            }
        }

        public static LookAhead fixed(int places) {
            return new LookAhead("fixed", places);
        }

        /** {@code none}, {@code auto} or a count. */
        public static LookAhead parse(String text) {
            String t = text.trim();
            if (t.equals("none")) {
                return NONE;
            }
            if (t.equals("auto")) {
                return AUTO;
            }
            try {
                int n = Integer.parseInt(t);
                if (n >= 0 && n <= 100_000) {
                    return fixed(n);
                }
            } catch (NumberFormatException e) {
                // the message below names the accepted forms
            }
            throw new IllegalArgumentException("--look-ahead is a count 0..100000, auto (= K) or none, not '" + text + "'");
        }

        public boolean bounded() {
            return !kind.equals("none");
        }

        /** The runs allowed at once when K is {@code k}. */
        public int runBound(int k) {
            return switch (kind) {
                case "none" -> Integer.MAX_VALUE;
                case "auto" -> 2 * k;
                default -> (int) Math.min(Integer.MAX_VALUE, (long) k + places);
            };
        }

        /** As asked: {@code none}, {@code auto} or the count. */
        public String label() {
            return kind.equals("fixed") ? String.valueOf(places) : kind;
        }
    }

    /** A place among the {@link #runBound()} migrations in their driver run; give it back with {@link #leaveRun}. */
    public static final class RunPlace {
        private boolean left;

        private RunPlace() {
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
    private final ArrayDeque<Object> runQueue = new ArrayDeque<>();
    private int inRun;
    private int maxInRun;
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
     * Waits, first come first served, until fewer than {@link #runBound()} migrations are in their run; bounded by
     * {@code timeout}. Call it before the driver touches a VMM; give the place back with {@link #leaveRun} whatever
     * the run's end (a place never given back shrinks the host's bound for good).
     *
     * @throws TimeoutException when no place was free in time (the caller must not start the migration)
     */
    public RunPlace enterRun(Duration timeout) throws TimeoutException, InterruptedException {
        Object ticket = new Object();
        long left = timeout.toNanos();
        lock.lock();
        try {
            runQueue.addLast(ticket);
            try {
                while (runQueue.peekFirst() != ticket || inRun >= runBound()) {
                    if (left <= 0) {
                        throw new TimeoutException("no look-ahead place within " + timeout.toMillis() + " ms (" + inRun
                                + " of " + runBound() + " migrations in their run, " + (runQueue.size() - 1)
                                + " other(s) waiting)");
                    }
                    left = changed.awaitNanos(left);
                }
            } finally {
                runQueue.remove(ticket);
                changed.signalAll();
            }
            inRun++;
            maxInRun = Math.max(maxInRun, inRun);
            return new RunPlace();
        } finally {
            lock.unlock();
        }
    }

    /** Gives a run's place back (the run ended, whatever its outcome). Leaving twice is an error. */
    public void leaveRun(RunPlace place) {
        lock.lock();
        try {
            if (place.left) {
                throw new IllegalStateException("this run's place was already given back");
            }
            place.left = true;
            inRun--;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** At most this many migrations in their driver run at once: K + L now ({@link Integer#MAX_VALUE}: not bounded). */
    public int runBound() {
        return locked(() -> settings.lookAhead().runBound(limit));
    }

    /** Migrations in their run now (places held). */
    public int inRun() {
        return locked(() -> inRun);
    }

    /** The most migrations ever in their run at once. */
    public int maxInRun() {
        return locked(() -> maxInRun);
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
        return locked(() -> limit);
    }

    public int inUse() {
        return locked(() -> inUse);
    }

    /** The most places ever in use at once. */
    public int maxInUse() {
        return locked(() -> maxInUse);
    }

    /** Every change of the limit so far. */
    public long adjustmentCount() {
        return locked(() -> adjustmentCount);
    }

    /** The latest changes of the limit (at most {@link #ADJUSTMENTS_KEPT}), oldest first. */
    public List<Adjustment> adjustments() {
        return locked(() -> List.copyOf(adjustments));
    }

    /** A read of the budget's state under its lock. */
    private <T> T locked(Supplier<T> read) {
        lock.lock();
        try {
            return read.get();
        } finally {
            lock.unlock();
        }
    }
}
