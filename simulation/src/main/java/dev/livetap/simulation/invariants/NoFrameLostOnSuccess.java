package dev.livetap.simulation.invariants;

import dev.livetap.simulation.SimRun;

/**
 * Frames the host sends into the TAP while the VM is frozen wait in the kernel's queue and reach
 * the target's guest after a successful migration: each echo request sent during the freeze gets
 * its reply once the target resumes (checked by the run as it waits for them), and the TAP
 * dropped no frame for want of an attached queue.
 */
public final class NoFrameLostOnSuccess implements Invariant {
    @Override
    public String name() {
        return "NoFrameLostOnSuccess";
    }

    @Override
    public void atEnd(SimRun run) {
        if (!run.outcome().equals("completed") || !run.kernel().tapExists("tap0")) {
            return;
        }
        long dropped = run.kernel().droppedFrames("tap0");
        if (dropped != 0) {
            throw violation(dropped + " frame(s) dropped by the TAP during a successful migration");
        }
    }
}
