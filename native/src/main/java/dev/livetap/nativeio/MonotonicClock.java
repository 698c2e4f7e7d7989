package dev.livetap.nativeio;

/**
 * CLOCK_MONOTONIC in nanoseconds: shared by every process of the host, so downtime can be
 * measured across a source and a target (design decision 7). The simulation supplies virtual time.
 */
@FunctionalInterface
public interface MonotonicClock {
    long nanos();

    /** HotSpot's System.nanoTime is clock_gettime(CLOCK_MONOTONIC) on Linux. */
    MonotonicClock SYSTEM = System::nanoTime;
}
