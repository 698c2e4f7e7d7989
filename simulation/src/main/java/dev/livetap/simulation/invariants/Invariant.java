package dev.livetap.simulation.invariants;

import dev.livetap.simulation.SimRun;

/** A property of every run, checked after every step ({@link #afterStep}) and at the end ({@link #atEnd}). */
public interface Invariant {
    String name();

    default void afterStep(SimRun run) {
    }

    default void atEnd(SimRun run) {
    }

    default Violation violation(String message) {
        return new Violation(name(), message);
    }
}
