package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static dev.livetap.actors.options.PeerState.CONNECTED;
import static dev.livetap.actors.options.PeerState.WAITING_INCOMING;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VirtioNetRealizeCheckTest {
    @Test
    void peersAllWaitOrNoneDo() {
        assertRejected("Mixed peer states: some peers wait for incoming migration while others don't",
                () -> VirtioNetRealizeCheck.checkPeers(List.of(WAITING_INCOMING, CONNECTED), RunState.INMIGRATE));
        assertTrue(VirtioNetRealizeCheck.checkPeers(List.of(WAITING_INCOMING, WAITING_INCOMING), RunState.INMIGRATE));
        assertFalse(VirtioNetRealizeCheck.checkPeers(List.of(CONNECTED, CONNECTED), RunState.RUNNING));
        assertFalse(VirtioNetRealizeCheck.checkPeers(List.of(CONNECTED), RunState.INMIGRATE),
                "a plain (non-local) incoming migration has connected peers");
    }

    @Test
    void waitingPeersNeedAnIncomingMigration() {
        for (RunState s : RunState.values()) {
            if (s != RunState.INMIGRATE) {
                assertRejected("Peers wait for incoming, but it's not an incoming migration.",
                        () -> VirtioNetRealizeCheck.checkPeers(List.of(WAITING_INCOMING), s));
            }
        }
        assertRejected("virtio-net needs a netdev with at least one queue",
                () -> VirtioNetRealizeCheck.checkPeers(List.of(), RunState.RUNNING));
    }

    @Test
    void backendTravelsIffBothSwitchesAreOn() {
        MigrationParameters off = MigrationParameters.defaults();
        MigrationParameters on = off.apply(Map.of("local", true));
        assertTrue(VirtioNetRealizeCheck.backendTravels(on, true));
        assertFalse(VirtioNetRealizeCheck.backendTravels(on, false));
        assertFalse(VirtioNetRealizeCheck.backendTravels(off, true));
        assertFalse(VirtioNetRealizeCheck.backendTravels(off, false));
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n");
        assertTrue(VirtioNetRealizeCheck.backendTravels(on, d, MachineType.parse("q35")));
        assertFalse(VirtioNetRealizeCheck.backendTravels(on, d, MachineType.parse("pc-q35-10.2")),
                "machine types up to 10.2 default backend-transfer to false");
        assertEquals(true, VirtioNetRealizeCheck.backendTravels(on,
                VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,backend-transfer=on"), MachineType.parse("pc-q35-10.2")));
    }
}
