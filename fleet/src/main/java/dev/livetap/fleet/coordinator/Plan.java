package dev.livetap.fleet.coordinator;

import dev.livetap.fleet.FleetSerializable;
import java.util.List;
import java.util.Objects;

/**
 * An upgrade plan: move every VM of {@code hosts} onto a VMM of {@code targetVersion}.
 *
 * @param maxParallelHosts hosts upgrading at once
 * @param maxFailures      failed VM steps before the plan halts
 * @param downtimeLimitMs  per-VM freeze limit handed to each host's freeze budget
 */
public record Plan(String targetVersion, List<String> hosts, int maxParallelHosts, int maxFailures, double downtimeLimitMs)
        implements FleetSerializable {
    public Plan {
        Objects.requireNonNull(targetVersion, "targetVersion");
        hosts = List.copyOf(hosts);
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("a plan needs at least one host");
        }
        if (maxParallelHosts < 1 || maxFailures < 0 || !(downtimeLimitMs > 0)) {
            throw new IllegalArgumentException("maxParallelHosts >= 1, maxFailures >= 0 and downtimeLimitMs > 0 are required: "
                    + maxParallelHosts + ", " + maxFailures + ", " + downtimeLimitMs);
        }
    }
}
