package dev.livetap.simulation.invariants;

import java.util.Map;
import java.util.Set;

/**
 * Every MIGRATION event follows QEMU's status machine (design semantic 6): source
 * none → setup → active → device → completed | failed | cancelling → cancelled, target
 * none → setup → active → completed | failed; a final status may only be followed by a new
 * migration's setup. Checked as each event arrives; the cancel matrix's expectations are checked
 * when the migration ends.
 */
public final class LegalStatusSequence implements Invariant {
    public static final String NAME = "LegalStatusSequence";

    private static final Map<String, Set<String>> SOURCE = Map.of(
            "none", Set.of("setup"),
            "setup", Set.of("active", "failed", "cancelling"),
            "active", Set.of("device", "failed", "cancelling"),
            "device", Set.of("completed", "failed", "cancelling"),
            "cancelling", Set.of("cancelled", "failed"),
            "completed", Set.of("setup"),
            "failed", Set.of("setup"),
            "cancelled", Set.of("setup"));
    private static final Map<String, Set<String>> TARGET = Map.of(
            "none", Set.of("setup"),
            "setup", Set.of("active", "failed"),
            "active", Set.of("completed", "failed"),
            "completed", Set.of(),
            "failed", Set.of("setup"));

    @Override
    public String name() {
        return NAME;
    }

    /** @throws Violation when {@code before → after} is not a legal change */
    public static void check(boolean target, String before, String after, String vm) {
        Set<String> next = (target ? TARGET : SOURCE).get(before);
        if (next == null || !next.contains(after)) {
            throw new Violation(NAME, vm + " (" + (target ? "target" : "source") + ") went from status " + before
                    + " to " + after);
        }
    }
}
