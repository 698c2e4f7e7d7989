package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.MonotonicClock;
import java.time.Duration;

/** Virtual CLOCK_MONOTONIC shared by every process of an {@link InMemoryKernel}; moves only when told. */
public final class VirtualClock implements MonotonicClock {
    private long nanos;

    @Override
    public synchronized long nanos() {
        return nanos;
    }

    public synchronized void advance(Duration by) {
        if (by.isNegative()) {
            throw new IllegalArgumentException("a monotonic clock cannot go back: " + by);
        }
        nanos += by.toNanos();
    }

    /** Moves to {@code target} nanoseconds if that is later; never back. */
    public synchronized void advanceTo(long target) {
        nanos = Math.max(nanos, target);
    }
}
