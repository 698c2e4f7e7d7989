package dev.livetap.engine.api;

/** Where an outgoing migration was when it failed or was cancelled: the last status before the end. */
public enum MigrationPhase {
    /** Before the channel to the target was up (connecting). */
    SETUP,
    /** The stream ran; the VM still ran. */
    ACTIVE,
    /** The source was stopped and waited for {@code migrate-continue}. */
    PRE_SWITCHOVER,
    /** The source was stopped and sending its device state and TAP queue fds (the switch-over). */
    DEVICE
}
