package dev.livetap.tools;

/** Exit codes of every {@code livetap} command (documented in README.md and docs/operations.md). */
public final class ExitCodes {
    /** Success. */
    public static final int OK = 0;
    /** The command ran and found a failure (a failed check, a failed migration, a violation). */
    public static final int FAILED = 1;
    /** Bad command line: unknown option, bad value. */
    public static final int USAGE = 2;
    /** A prerequisite is missing (no /dev/net/tun, not root, a tool not installed). */
    public static final int UNAVAILABLE = 3;
    /** Interrupted (SIGINT / SIGTERM) after cleaning up. */
    public static final int INTERRUPTED = 130;

    private ExitCodes() {
    }
}
