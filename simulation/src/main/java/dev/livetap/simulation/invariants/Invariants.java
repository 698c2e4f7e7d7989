package dev.livetap.simulation.invariants;

import java.util.List;

/** The invariants every simulated run is checked against. */
public final class Invariants {
    private Invariants() {
    }

    public static List<Invariant> all() {
        return List.of(new SingleReaderPerQueue(), new FdConservation(), new NoFrameLostOnSuccess(),
                new SourceResumableAfterFailure(), new LegalStatusSequence(), new ErrorNamesPhaseAndCause());
    }
}
