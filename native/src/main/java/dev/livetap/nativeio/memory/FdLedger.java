package dev.livetap.nativeio.memory;

/**
 * Descriptor bookkeeping of one in-memory process, for the FdConservation invariant:
 * {@code opened - closed == open} always holds; a test or a simulation step checks that
 * {@code open} returns to its starting value.
 */
public record FdLedger(long opened, long closed, int open) {
    public boolean conserved() {
        return opened - closed == open;
    }
}
