package dev.livetap.engine.api;

/** The migration capabilities livetap knows ({@code migrate-set-capabilities}); all off by default, as in QEMU. */
public enum MigrationCapability {
    /** MIGRATION events reach QMP clients (in-process subscribers always see them). */
    EVENTS("events"),
    /** Accepted and reported, as QEMU's. */
    X_IGNORE_SHARED("x-ignore-shared"),
    /** Accepted and reported; livetap always uses the return path (the source completes only after the target's {@code loaded}). */
    RETURN_PATH("return-path"),
    /** The source stops, then waits in {@link MigrationStatus#PRE_SWITCHOVER} for {@link VirtualMachine#migrateContinue}. */
    PAUSE_BEFORE_SWITCHOVER("pause-before-switchover");

    private final String qmpName;

    MigrationCapability(String qmpName) {
        this.qmpName = qmpName;
    }

    /** QEMU's name of the capability. */
    public String qmpName() {
        return qmpName;
    }
}
