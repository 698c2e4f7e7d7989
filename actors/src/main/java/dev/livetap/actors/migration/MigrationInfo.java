package dev.livetap.actors.migration;

import dev.livetap.actors.options.MigrationStatus;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@code query-migrate} reports about the current or last migration. Times are milliseconds,
 * -1 when not (yet) known. livetap extras: the CLOCK_MONOTONIC nanoseconds when the source's last
 * queue stopped reading and when the target's last queue started reading again (0 when unknown),
 * so that a tool can measure downtime across processes (design decision 7), and whether the
 * target's start came from a management {@code cont}.
 */
public record MigrationInfo(String migrationId, MigrationStatus status, long setupTimeMs, long downtimeMs,
        long totalTimeMs, String errorDesc, long sourceStoppedNanos, long targetStartedNanos, boolean resumedByCont) {

    public static final MigrationInfo NONE = new MigrationInfo("", MigrationStatus.NONE, -1, -1, -1, null, 0, 0, false);

    /** A migration just started: status {@code setup}, nothing measured yet. */
    public static MigrationInfo starting(String migrationId) {
        return new MigrationInfo(migrationId, MigrationStatus.SETUP, -1, -1, 0, null, 0, 0, false);
    }

    public MigrationInfo withStatus(MigrationStatus s) {
        return new MigrationInfo(migrationId, s, setupTimeMs, downtimeMs, totalTimeMs, errorDesc, sourceStoppedNanos,
                targetStartedNanos, resumedByCont);
    }

    public MigrationInfo withTargetStarted(long nanos, boolean byCont) {
        return new MigrationInfo(migrationId, status, setupTimeMs, downtimeMs, totalTimeMs, errorDesc, sourceStoppedNanos,
                nanos, byCont);
    }

    /** The {@code query-migrate} return value (QEMU's member names, livetap extras prefixed {@code x-}). */
    public Map<String, Object> toQmp() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (status == MigrationStatus.NONE) {
            return m; // QEMU answers {} before any migration
        }
        m.put("status", status.qmpName());
        if (setupTimeMs >= 0) {
            m.put("setup-time", setupTimeMs);
        }
        if (downtimeMs >= 0) {
            m.put("downtime", downtimeMs);
        }
        if (totalTimeMs >= 0) {
            m.put("total-time", totalTimeMs);
        }
        if (errorDesc != null) {
            m.put("error-desc", errorDesc);
        }
        m.put("x-migration-id", migrationId);
        if (sourceStoppedNanos != 0) {
            m.put("x-source-stopped-ns", sourceStoppedNanos);
        }
        if (targetStartedNanos != 0) {
            m.put("x-target-started-ns", targetStartedNanos);
            m.put("x-resumed-by-cont", resumedByCont);
        }
        return m;
    }
}
