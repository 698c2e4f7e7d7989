package dev.livetap.report;

import java.util.Collection;
import org.HdrHistogram.Histogram;

/**
 * Percentiles of a set of latency samples in milliseconds (downtimes, freezes, round trips),
 * through an HdrHistogram of whole microseconds with 4 significant digits: a figure is exact (to
 * the microsecond) below 32.768 ms and within 0.01 % above. A percentile is HdrHistogram's (the value at or below which
 * that share of the samples lies); with fewer than 100 samples p99 is the maximum, so reports show
 * {@link #count()} beside it.
 */
public final class Percentiles {
    private static final int SIGNIFICANT_DIGITS = 4;
    private final Histogram histogram;

    private Percentiles(Histogram histogram) {
        this.histogram = histogram;
    }

    public static Percentiles of(Collection<? extends Number> samples) {
        return of(samples.stream().mapToDouble(Number::doubleValue).toArray());
    }

    /** @throws IllegalArgumentException for a negative or non-finite sample */
    public static Percentiles of(double... samplesMs) {
        Histogram h = new Histogram(SIGNIFICANT_DIGITS); // auto-resizing: no upper bound to guess
        for (double ms : samplesMs) {
            if (!(ms >= 0) || Double.isInfinite(ms)) {
                throw new IllegalArgumentException("a latency sample must be a finite number >= 0 ms: " + ms);
            }
            h.recordValue(Math.round(ms * 1000));
        }
        return new Percentiles(h);
    }

    public int count() {
        return (int) histogram.getTotalCount();
    }

    /** The p-th percentile in ms (0 < p <= 100); NaN without samples. */
    public double percentile(double p) {
        if (p <= 0 || p > 100) {
            throw new IllegalArgumentException("percentile must be in (0, 100]: " + p);
        }
        return count() == 0 ? Double.NaN : histogram.getValueAtPercentile(p) / 1000.0;
    }

    public double p50() {
        return percentile(50);
    }

    public double p99() {
        return percentile(99);
    }

    public double max() {
        return count() == 0 ? Double.NaN : histogram.getMaxValue() / 1000.0;
    }

    public double min() {
        return count() == 0 ? Double.NaN : histogram.getMinValue() / 1000.0;
    }
}
