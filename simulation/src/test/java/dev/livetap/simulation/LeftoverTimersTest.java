package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.livetap.simulation.invariants.Invariants;
import dev.livetap.simulation.runtime.BatchLogLevel;
import dev.livetap.simulation.runtime.SimSystem;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A run's hash does not depend on the runs its worker ran before: no one-shot timer survives a
 * run (a leftover made the next run's virtual time stop at its deadline; batch 42's run
 * -4482332361900012651 hashed differently depending on which runs preceded it on its worker).
 */
class LeftoverTimersTest {
    static final long SENSITIVE = -4482332361900012651L;

    @Test
    void noTimerSurvivesARunAndHistoryDoesNotChangeAHash() {
        BatchLogLevel.logs();
        List<Fault> all = List.of(Fault.values());
        String alone = Simulator.replay(SENSITIVE, all, 1, 8, 0, null).traceHash();
        SimSystem sim = SimSystem.start();
        try {
            assertFalse(sim.oneShotTimerPending(), "none after the system's start");
            long[] before = Simulator.runSeeds(42, 40);
            for (int i = 0; i < before.length; i++) {
                SimRun.Result r = new SimRun(sim, RunOptions.derive(before[i], all, 1, 8), Invariants.all(), i, 0, null).run();
                assertFalse(sim.oneShotTimerPending(), "a one-shot timer survived run " + before[i] + " (" + r.outcome() + ")");
            }
            String afterHistory = new SimRun(sim, RunOptions.derive(SENSITIVE, all, 1, 8), Invariants.all(), 40, 0, null).run()
                    .traceHash();
            assertEquals(alone, afterHistory, "the same hash after 40 other runs on the same worker as alone");
        } finally {
            sim.close();
        }
    }
}
