package dev.livetap.simulation.invariants;

import dev.livetap.simulation.SimRun;

/**
 * After a failure or cancel the source resumes with its queues (cont, then its guest answers
 * ping, frames of the freeze included) and a following migration to a fresh target succeeds;
 * under the source-crash rule the target that loaded everything resumes instead, and a target
 * that had not must say the device is lost (or, when no fd had arrived yet, that it received
 * nothing). The run performs these steps; this checks the
 * verdicts it reached.
 */
public final class SourceResumableAfterFailure implements Invariant {
    @Override
    public String name() {
        return "SourceResumableAfterFailure";
    }

    @Override
    public void atEnd(SimRun run) {
        if (run.outcome().equals("source_crashed_device_lost")) {
            String e = run.targetError();
            if (!run.target().crashed() && (e == null || !e.contains("device is lost")
                    && !e.contains("before any TAP fd arrived"))) {
                throw violation("the source died before the target loaded everything, but the target's error says"
                        + " neither that the device is lost nor that no fd had arrived: " + e);
            }
        }
        if (run.outcome().equals("unknown")) {
            throw violation("the run ended without a verdict");
        }
    }
}
