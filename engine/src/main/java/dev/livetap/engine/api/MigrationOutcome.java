package dev.livetap.engine.api;

/**
 * How an outgoing migration ended ({@link MigrationHandle#outcome()}).
 */
public sealed interface MigrationOutcome permits MigrationOutcome.Completed, MigrationOutcome.Failed,
        MigrationOutcome.Cancelled {

    /** The source's {@code query-migrate} at the end. */
    MigrationInfo info();

    /**
     * The target loaded every section: the VM and its TAP queues are the target's.
     *
     * @param info the source's figures (downtime, total time, stop stamp)
     */
    record Completed(MigrationInfo info) implements MigrationOutcome {
    }

    /**
     * The migration failed; the source rolled back (it keeps its TAP queues and resumes if it was running).
     *
     * @param phase where it failed
     * @param cause QEMU's {@code error-desc}
     * @param info  the source's figures
     */
    record Failed(MigrationPhase phase, String cause, MigrationInfo info) implements MigrationOutcome {
    }

    /**
     * {@link MigrationHandle#cancel()} (or {@code migrate_cancel}) ended it; the source rolled back.
     *
     * @param phase where it was cancelled
     * @param info  the source's figures
     */
    record Cancelled(MigrationPhase phase, MigrationInfo info) implements MigrationOutcome {
    }
}
