package dev.livetap.engine.api;

/** The VM run states livetap uses ({@code query-status}). */
public enum RunState {
    /** Created, not started yet. */
    PRELAUNCH,
    /** Waits for an incoming migration ({@code -incoming}). */
    INMIGRATE,
    /** Running. */
    RUNNING,
    /** Stopped by {@code stop}, {@code -S}, or a source that was paused. */
    PAUSED,
    /** A source that is saving its state. */
    FINISH_MIGRATE,
    /** A source after a completed migration. */
    POSTMIGRATE
}
