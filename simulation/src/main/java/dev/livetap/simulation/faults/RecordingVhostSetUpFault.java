package dev.livetap.simulation.faults;

import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.actors.tap.VhostSetUpFault;
import dev.livetap.simulation.doubles.RecordingVhostBackend;

/** The fault plug-in of {@code livetap vmm --x-fault-vhost-setup}: the simulation's vhost double failing one queue's set-up. */
public final class RecordingVhostSetUpFault implements VhostSetUpFault {
    @Override
    public VhostBackend failingSetUp(int queueIndex) {
        return new RecordingVhostBackend().failSetUp(queueIndex);
    }
}
