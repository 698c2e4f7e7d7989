package dev.livetap.engine.api;

/**
 * An event of one VM, in the order the VM emitted it; {@link #atNanos()} is the host's
 * CLOCK_MONOTONIC (design decision 7). Delivered to a {@link VmEventListener} and through
 * {@link VirtualMachine#events()}.
 */
public sealed interface VmEvent permits VmEvent.MigrationStatusChanged, VmEvent.Stopped, VmEvent.Resumed {
    /** When the VM emitted it (CLOCK_MONOTONIC nanoseconds). */
    long atNanos();

    /**
     * QMP's {@code MIGRATION}: the VM's migration changed status.
     *
     * @param status  the new status
     * @param atNanos when
     */
    record MigrationStatusChanged(MigrationStatus status, long atNanos) implements VmEvent {
    }

    /**
     * QMP's {@code STOP}: the VM stopped running.
     *
     * @param atNanos when
     */
    record Stopped(long atNanos) implements VmEvent {
    }

    /**
     * QMP's {@code RESUME}: the VM runs again.
     *
     * @param atNanos when
     */
    record Resumed(long atNanos) implements VmEvent {
    }
}
