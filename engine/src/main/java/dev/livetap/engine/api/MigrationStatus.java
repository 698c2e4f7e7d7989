package dev.livetap.engine.api;

/** QEMU's migration statuses ({@code query-migrate}, the MIGRATION event). */
public enum MigrationStatus {
    /** No migration yet. */
    NONE,
    /** Started: the channel is being set up. */
    SETUP,
    /** Connected: the stream runs while the VM still runs. */
    ACTIVE,
    /** With {@link MigrationCapability#PAUSE_BEFORE_SWITCHOVER}: the source is stopped and waits for {@code migrate-continue}. */
    PRE_SWITCHOVER,
    /** The source is stopped and sends its device state (and its TAP queue fds). */
    DEVICE,
    /** Done: the target loaded every section; the TAP queues are the target's. */
    COMPLETED,
    /** Failed; the source rolled back and keeps its TAP queues. */
    FAILED,
    /** A cancel is being carried out. */
    CANCELLING,
    /** Cancelled; the source rolled back and keeps its TAP queues. */
    CANCELLED;

    /** No further change follows. */
    public boolean isFinal() {
        return this == COMPLETED || this == FAILED || this == CANCELLED;
    }
}
