package dev.livetap.fleet.coordinator;

import com.fasterxml.jackson.annotation.JsonCreator;
import dev.livetap.fleet.FleetSerializable;
import java.util.List;
import java.util.Objects;

/**
 * An upgrade plan: move every VM of {@code hosts} onto a VMM of {@code targetVersion}.
 *
 * @param maxParallelHosts hosts upgrading at once
 * @param maxFailures      failed VM steps (and hosts given up) before the plan halts
 * @param downtimeLimitMs  per-VM freeze limit handed to each host's freeze budget
 * @param stepTimeoutMs    a step its agent has not answered (not even "running") within this is sent again
 *                         with the same migration id; 0 in a journal written before it existed: the default
 * @param hostDownLimitMs  a host whose agent is gone this long is given up (counted as one failure); 0: the default
 */
public record Plan(String targetVersion, List<String> hosts, int maxParallelHosts, int maxFailures, double downtimeLimitMs,
        long stepTimeoutMs, long hostDownLimitMs) implements FleetSerializable {
    public static final long DEFAULT_STEP_TIMEOUT_MS = 30_000;
    public static final long DEFAULT_HOST_DOWN_LIMIT_MS = 120_000;

    @JsonCreator
    public Plan {
        Objects.requireNonNull(targetVersion, "targetVersion");
        hosts = List.copyOf(hosts);
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("a plan needs at least one host");
        }
        if (maxParallelHosts < 1 || maxFailures < 0 || !(downtimeLimitMs > 0) || stepTimeoutMs < 0 || hostDownLimitMs < 0) {
            throw new IllegalArgumentException("maxParallelHosts >= 1, maxFailures >= 0, downtimeLimitMs > 0 and time limits >= 0"
                    + " are required: " + maxParallelHosts + ", " + maxFailures + ", " + downtimeLimitMs + ", " + stepTimeoutMs
                    + ", " + hostDownLimitMs);
        }
        stepTimeoutMs = stepTimeoutMs == 0 ? DEFAULT_STEP_TIMEOUT_MS : stepTimeoutMs;
        hostDownLimitMs = hostDownLimitMs == 0 ? DEFAULT_HOST_DOWN_LIMIT_MS : hostDownLimitMs;
    }

    /** A plan with the default step timeout and host-down limit. */
    public Plan(String targetVersion, List<String> hosts, int maxParallelHosts, int maxFailures, double downtimeLimitMs) {
        this(targetVersion, hosts, maxParallelHosts, maxFailures, downtimeLimitMs, 0, 0);
    }
}
