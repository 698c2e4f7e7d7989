package dev.livetap.simulation.runtime;

import com.typesafe.config.Config;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.testkit.ExplicitlyTriggeredScheduler;
import scala.concurrent.ExecutionContext;
import scala.concurrent.duration.FiniteDuration;

/**
 * pekko-testkit's {@link ExplicitlyTriggeredScheduler} with one change: timers due at the same
 * virtual millisecond fire in the order they were scheduled. The testkit keeps timers in a hash
 * map and runs simultaneous ones in its iteration order (identity hashes), which differs between
 * JVMs — found by the two-JVM trace-hash test. Time moves only through {@link #timePasses}.
 */
public final class OrderedScheduler extends ExplicitlyTriggeredScheduler {
    private record Key(long deadlineMs, long seq) implements Comparable<Key> {
        @Override
        public int compareTo(Key o) {
            return deadlineMs != o.deadlineMs ? Long.compare(deadlineMs, o.deadlineMs) : Long.compare(seq, o.seq);
        }
    }

    private final class Task implements Cancellable {
        final Runnable runnable;
        final long intervalMs;
        Key key;
        boolean cancelled;

        Task(Runnable runnable, long intervalMs) {
            this.runnable = runnable;
            this.intervalMs = intervalMs;
        }

        @Override
        public boolean cancel() {
            synchronized (OrderedScheduler.this) {
                if (cancelled) {
                    return false;
                }
                cancelled = true;
                return tasks.remove(key) != null;
            }
        }

        @Override
        public boolean isCancelled() {
            synchronized (OrderedScheduler.this) {
                return cancelled;
            }
        }
    }

    private final TreeMap<Key, Task> tasks = new TreeMap<>();
    private long now;
    private long seq;

    public OrderedScheduler(Config config, LoggingAdapter log, ThreadFactory tf) {
        super(config, log, tf);
    }

    private synchronized Task add(FiniteDuration delay, long intervalMs, Runnable r) {
        Task t = new Task(r, intervalMs);
        t.key = new Key(now + Math.max(0, delay.toMillis()), seq++);
        tasks.put(t.key, t);
        return t;
    }

    @Override
    public Cancellable scheduleOnce(FiniteDuration delay, Runnable runnable, ExecutionContext executor) {
        return add(delay, -1, runnable);
    }

    @Override
    public Cancellable schedule(FiniteDuration initialDelay, FiniteDuration interval, Runnable runnable,
            ExecutionContext executor) {
        return add(initialDelay, Math.max(1, interval.toMillis()), runnable);
    }

    @Override
    public Cancellable scheduleWithFixedDelay(FiniteDuration initialDelay, FiniteDuration delay, Runnable runnable,
            ExecutionContext executor) {
        return add(initialDelay, Math.max(1, delay.toMillis()), runnable);
    }

    @Override
    public long currentTimeMs() {
        synchronized (this) {
            return now;
        }
    }

    /** Milliseconds until the earliest one-shot timer, or Long.MAX_VALUE (periodic ones are skipped). */
    public synchronized long msToNextOneShot() {
        for (Map.Entry<Key, Task> e : tasks.entrySet()) {
            if (e.getValue().intervalMs <= 0) {
                return Math.max(0, e.getKey().deadlineMs - now);
            }
        }
        return Long.MAX_VALUE;
    }

    public synchronized int pending() {
        return tasks.size();
    }

    /** Milliseconds until the earliest timer, or Long.MAX_VALUE. */
    public synchronized long msToNextTimer() {
        return tasks.isEmpty() ? Long.MAX_VALUE : Math.max(0, tasks.firstKey().deadlineMs - now);
    }

    @Override
    public void timePasses(FiniteDuration amount) {
        long to;
        synchronized (this) {
            to = now + amount.toMillis();
        }
        while (true) {
            Task t;
            synchronized (this) {
                if (tasks.isEmpty() || tasks.firstKey().deadlineMs > to) {
                    now = to;
                    return;
                }
                t = tasks.pollFirstEntry().getValue();
                now = Math.max(now, t.key.deadlineMs);
                if (t.intervalMs > 0) {
                    t.key = new Key(now + t.intervalMs, seq++);
                    tasks.put(t.key, t);
                }
            }
            t.runnable.run();
        }
    }

    /** Unused by the simulation; kept for the Scheduler contract. */
    public void timePasses(long ms) {
        timePasses(FiniteDuration.create(ms, TimeUnit.MILLISECONDS));
    }
}
