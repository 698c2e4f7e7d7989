package dev.livetap.actors.migration;

import dev.livetap.actors.RoutineLog;
import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * A JFR event per step of a migration's switch-over, on both sides ({@code jfr print --events
 * 'livetap.*'}). {@code monotonicNanos} is the VM's CLOCK_MONOTONIC, shared by every process of the
 * host (design decision 7), so a source's and a target's recordings line up into one timeline;
 * JFR's own start time prints in milliseconds, too coarse for a downtime of one or two.
 */
@Name("livetap.SwitchoverStep")
@Label("Switch-over step")
@Category({"livetap", "Migration"})
@Description("A step of a local migration's switch-over (source: stop, save, send, loaded; target: accept, load, loaded, resume)")
@StackTrace(false)
public final class SwitchoverStepEvent extends jdk.jfr.Event {
    public static final String SOURCE = "source";
    public static final String TARGET = "target";

    @Label("Migration id")
    String migrationId;

    @Label("Role")
    String role;

    @Label("Step")
    String step;

    @Label("CLOCK_MONOTONIC (ns)")
    long monotonicNanos;

    /** Asks whether a recording wants these events; never committed itself. */
    private static final SwitchoverStepEvent PROBE = new SwitchoverStepEvent();

    /**
     * True while a recording wants these events: a flag read, no allocation, so a step costs nothing
     * (no event object, no clock read, no text) when none is on.
     */
    public static boolean enabled() {
        return PROBE.isEnabled();
    }

    /** Commits one step if a recording wants it (a flag check otherwise). */
    public static void step(String migrationId, String role, String step, long monotonicNanos) {
        if (!enabled()) {
            return;
        }
        SwitchoverStepEvent e = new SwitchoverStepEvent();
        if (e.shouldCommit() && !RoutineLog.isWarmUp()) { // the engine's own warm-up is no migration of the VMM's
            e.migrationId = migrationId;
            e.role = role;
            e.step = step;
            e.monotonicNanos = monotonicNanos;
            e.commit();
        }
    }

    static void step(RoleContext rc, String role, String step) {
        if (enabled()) {
            step(rc.id(), role, step, rc.clock().nanos());
        }
    }

    /** A step named {@code prefix + " " + name}, the text built only when a recording wants it. */
    static void step(RoleContext rc, String role, String prefix, String name) {
        if (enabled()) {
            step(rc.id(), role, prefix + " " + name, rc.clock().nanos());
        }
    }
}
