package dev.livetap.report;

import java.util.Arrays;
import java.util.Collection;

/** Nearest-rank percentiles of a set of samples (downtimes, latencies). */
public final class Percentiles {
    private final double[] sorted;

    private Percentiles(double[] sorted) {
        this.sorted = sorted;
    }

    public static Percentiles of(Collection<? extends Number> samples) {
        double[] v = samples.stream().mapToDouble(Number::doubleValue).toArray();
        Arrays.sort(v);
        return new Percentiles(v);
    }

    public static Percentiles of(double... samples) {
        double[] v = samples.clone();
        Arrays.sort(v);
        return new Percentiles(v);
    }

    public int count() {
        return sorted.length;
    }

    /** The nearest-rank p-th percentile (0 < p <= 100); NaN without samples. */
    public double percentile(double p) {
        if (p <= 0 || p > 100) {
            throw new IllegalArgumentException("percentile must be in (0, 100]: " + p);
        }
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    public double p50() {
        return percentile(50);
    }

    public double p99() {
        return percentile(99);
    }

    public double max() {
        return sorted.length == 0 ? Double.NaN : sorted[sorted.length - 1];
    }

    public double min() {
        return sorted.length == 0 ? Double.NaN : sorted[0];
    }
}
