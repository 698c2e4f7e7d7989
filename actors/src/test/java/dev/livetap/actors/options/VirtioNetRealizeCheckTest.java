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

    /** The netdev's form decides the rule: v10 (no local-migration-supported) or v17. */
    @Test
    void backendTravelsByTheRuleOfTheNetdevsForm() {
        MigrationParameters off = MigrationParameters.defaults();
        MigrationParameters on = off.apply(Map.of("local", true));
        MachineType old = MachineType.parse("pc-q35-10.2");
        MachineType latest = MachineType.parse("q35");
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n");
        TapNetdevOptions v10 = TapNetdevOptions.parse("tap,id=n,ifname=t");
        TapNetdevOptions v17 = TapNetdevOptions.parse("tap,id=n,ifname=t,local-migration-supported=on");
        TapNetdevOptions v17Off = TapNetdevOptions.parse("tap,id=n,ifname=t,local-migration-supported=off");
        assertTrue(VirtioNetRealizeCheck.backendTravels(on, d, v10, latest));
        assertFalse(VirtioNetRealizeCheck.backendTravels(on, d, v10, old), "v10: the device's compat default");
        assertTrue(VirtioNetRealizeCheck.backendTravels(on, d, v17, old), "v17 has no device switch to default off");
        assertFalse(VirtioNetRealizeCheck.backendTravels(off, d, v17, latest), "v17 still needs 'local'");
        assertFalse(VirtioNetRealizeCheck.backendTravels(on, d, v17Off, latest));
        assertFalse(VirtioNetRealizeCheck.backendTravels(on,
                VirtioNetDeviceOptions.parse("virtio-net-pci,netdev=n,backend-transfer=off"), v17, latest),
                "an explicit backend-transfer=off is never ignored");
    }

    /** Semantic 1 on the target: its own switches, each named when off. */
    @Test
    void aTargetWhoseSwitchesAreOffRefusesTheBackendNamingEachSwitch() {
        MigrationParameters off = MigrationParameters.defaults();
        MigrationParameters on = off.apply(Map.of("local", true));
        MachineType old = MachineType.parse("pc-q35-10.2");
        MachineType latest = MachineType.parse("q35");
        VirtioNetDeviceOptions d = VirtioNetDeviceOptions.parse("virtio-net-pci,id=nic0,netdev=n");
        TapNetdevOptions v10 = TapNetdevOptions.parse("tap,id=n,queues=2,incoming-fds=on,script=no,downscript=no");
        assertTrue(VirtioNetRealizeCheck.incomingBackendRefusal("nic0", on, d, v10, latest).isEmpty());
        String prefix = "the stream carries the TAP backend of 'nic0' (virtio-net-nic: its queue fds) but this target's"
                + " switches refuse it: ";
        String suffix = "; the backend travels only when the switches are on on both sides (set them on the target"
                + " before migrate-incoming); the fds that arrived were closed";
        assertEquals(prefix + "migration parameter 'local' is off" + suffix,
                VirtioNetRealizeCheck.incomingBackendRefusal("nic0", off, d, v10, latest).orElseThrow());
        assertEquals(prefix + "migration parameter 'local' is off, device 'nic0' has backend-transfer=off (the default of"
                + " machine type pc-q35-10.2)" + suffix, VirtioNetRealizeCheck.incomingBackendRefusal("nic0", off, d, v10, old)
                .orElseThrow());
        assertEquals(prefix + "device 'nic0' has backend-transfer=off" + suffix, VirtioNetRealizeCheck.incomingBackendRefusal(
                "nic0", on, VirtioNetDeviceOptions.parse("virtio-net-pci,id=nic0,netdev=n,backend-transfer=off"), v10, latest)
                .orElseThrow());
        TapNetdevOptions v17 = TapNetdevOptions.parse(
                "tap,id=n,queues=2,incoming-fds=on,script=no,downscript=no,local-migration-supported=on");
        assertTrue(VirtioNetRealizeCheck.incomingBackendRefusal("nic0", on, d, v17, old).isEmpty(),
                "v17: no device compat default");
        assertEquals(prefix + "migration parameter 'local' is off" + suffix,
                VirtioNetRealizeCheck.incomingBackendRefusal("nic0", off, d, v17, latest).orElseThrow(),
                "v17: 'local' turned off after the netdev was created");
    }
}
