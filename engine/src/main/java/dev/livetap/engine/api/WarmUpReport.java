package dev.livetap.engine.api;

import java.util.Optional;

/**
 * What {@link LivetapEngine#warmUp()} did and how long it took.
 *
 * @param millis      how long it took
 * @param nativeFrame whether real fd-carrying frames crossed a kernel socketpair
 * @param migration   whether in-memory migrations of a 4-queue NIC completed
 * @param failure     what failed, if anything (a cold process is slower, not broken)
 */
public record WarmUpReport(long millis, boolean nativeFrame, boolean migration, Optional<String> failure) {
    /** Every step worked. */
    public boolean ok() {
        return nativeFrame && migration;
    }
}
