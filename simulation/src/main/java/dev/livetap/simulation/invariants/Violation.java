package dev.livetap.simulation.invariants;

/** An invariant does not hold: the run stops here. */
public final class Violation extends RuntimeException {
    private final String invariant;

    public Violation(String invariant, String message) {
        super(invariant + ": " + message, null, false, false);
        this.invariant = invariant;
    }

    public String invariant() {
        return invariant;
    }
}
