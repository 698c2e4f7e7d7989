package dev.livetap.engine.api;

import java.util.Optional;

/**
 * What {@code query-migrate} reports about the current or last migration of a VM. Times are
 * milliseconds, -1 when not (yet) known. The CLOCK_MONOTONIC stamps (0 when unknown) let a
 * control plane measure downtime across processes: target's {@code targetStartedNanos} minus
 * source's {@code sourceStoppedNanos}.
 *
 * @param migrationId        livetap's id of the migration (empty before any)
 * @param status             its status
 * @param setupTimeMs        QEMU's {@code setup-time}
 * @param downtimeMs         QEMU's {@code downtime}
 * @param totalTimeMs        QEMU's {@code total-time}
 * @param error              QEMU's {@code error-desc}, for a failed migration
 * @param sourceStoppedNanos when the source's last queue stopped reading
 * @param targetStartedNanos when the target's last queue read again
 * @param resumedByCont      whether the target's start came from a management {@code cont}
 */
public record MigrationInfo(String migrationId, MigrationStatus status, long setupTimeMs, long downtimeMs,
        long totalTimeMs, Optional<String> error, long sourceStoppedNanos, long targetStartedNanos,
        boolean resumedByCont) {
}
