package dev.livetap.actors.tap;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The TAP feature probe on the in-memory kernel, which models a Linux between 6.2 and 6.17 (UFO and
 * USO known, UDP tunnel GSO not); the real kernel's answer is checked by JnaOsContractTest in testbed.
 */
class TapFeaturesTest {

    @Test
    void theProbeReportsWhatTheKernelAcceptsAndOpensNoDescriptor() {
        InMemoryOs os = new InMemoryOs();
        List<OwnedFd> qs = os.tun().openQueues("tap0", 2, TunFlags.TAP_VNET_MQ);
        try {
            int open = os.fds().countProcessFds();
            assertEquals(new TapFeatures(true, true, false), TapFeatures.probe(os.tun(), qs.get(0)));
            assertEquals(open, os.fds().countProcessFds(), "the probe opens and keeps nothing");
        } finally {
            qs.forEach(OwnedFd::close);
        }
    }
}
