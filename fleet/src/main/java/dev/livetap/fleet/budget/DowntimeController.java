package dev.livetap.fleet.budget;

import java.util.Arrays;
import java.util.Optional;

/**
 * The adaptive freeze budget's rule, additive increase / multiplicative decrease of K on the
 * switch-over downtimes the host observed, deterministic (the same downtimes give the same Ks) and
 * not thread-safe (its {@link FreezeBudget} calls it under its lock):
 * <ul>
 * <li>a downtime above the per-VM limit halves K at once (the limit was broken: waiting for a
 * window would break it again for everyone in flight);</li>
 * <li>once the sliding window holds {@code window} downtimes, its p99 (nearest rank) is compared
 * with the limit: above {@code shrinkAt × limit} K halves, below {@code growBelow × limit} K grows
 * by one; between the two K holds and the window slides on;</li>
 * <li>every change empties the window: the downtimes seen under the old K do not judge the new one.</li>
 * </ul>
 * K stays within 1 … {@code max}.
 */
public final class DowntimeController {
    /**
     * @param initial   K at the start
     * @param min       K never goes below (at least 1)
     * @param max       nor above
     * @param limitMs   the per-VM downtime limit
     * @param window    downtimes the p99 is taken over (at least 1)
     * @param shrinkAt  a window p99 above {@code shrinkAt × limitMs} halves K
     * @param growBelow a window p99 below {@code growBelow × limitMs} adds one
     */
    public record Settings(int initial, int min, int max, double limitMs, int window, double shrinkAt, double growBelow) {
        public Settings {
            if (min < 1 || max < min || initial < min || initial > max) {
                throw new IllegalArgumentException("1 <= min <= initial <= max is required: " + min + ", " + initial + ", " + max);
            }
            if (!(limitMs > 0) || window < 1 || !(growBelow > 0) || !(shrinkAt > growBelow) || !(shrinkAt <= 1)) {
                throw new IllegalArgumentException("limitMs > 0, window >= 1 and 0 < growBelow < shrinkAt <= 1 are required: "
                        + limitMs + ", " + window + ", " + growBelow + ", " + shrinkAt);
            }
        }
    }

    /** One change of K: at the {@code observation}-th downtime, from → to, because of {@code downtimeMs} (the window's p99 or the one downtime). */
    public record Change(long observation, int from, int to, double downtimeMs, String why) {
    }

    private final Settings settings;
    private final double[] ring;
    private int filled;
    private int next;
    private int k;
    private long observations;

    public DowntimeController(Settings settings) {
        this.settings = settings;
        this.ring = new double[settings.window()];
        this.k = settings.initial();
    }

    public int k() {
        return k;
    }

    public Settings settings() {
        return settings;
    }

    /** One switch-over's downtime (a known one: failures do not steer); the change it caused, if any. */
    public Optional<Change> observe(double downtimeMs) {
        if (!(downtimeMs >= 0)) {
            throw new IllegalArgumentException("a downtime is >= 0 ms: " + downtimeMs);
        }
        observations++;
        ring[next] = downtimeMs;
        next = (next + 1) % ring.length;
        filled = Math.min(filled + 1, ring.length);
        if (downtimeMs > settings.limitMs()) {
            return change(Math.max(settings.min(), k / 2), downtimeMs, "a downtime above the limit");
        }
        if (filled < ring.length) {
            return Optional.empty();
        }
        double p99 = p99();
        if (p99 > settings.shrinkAt() * settings.limitMs()) {
            return change(Math.max(settings.min(), k / 2), p99, "window p99 near the limit");
        }
        if (p99 < settings.growBelow() * settings.limitMs()) {
            return change(Math.min(settings.max(), k + 1), p99, "window p99 well below the limit");
        }
        return Optional.empty();
    }

    /** The window's p99, nearest rank (over fewer than 100 downtimes that is the largest). */
    double p99() {
        double[] sorted = Arrays.copyOf(ring, filled);
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(0.99 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    private Optional<Change> change(int to, double downtimeMs, String why) {
        filled = 0;
        next = 0;
        if (to == k) {
            return Optional.empty();
        }
        Change c = new Change(observations, k, to, downtimeMs, why);
        k = to;
        return Optional.of(c);
    }
}
