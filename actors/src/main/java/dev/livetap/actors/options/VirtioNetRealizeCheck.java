package dev.livetap.actors.options;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The checks virtio-net makes at realize time about its peers, and the rule that decides
 * whether the backend travels with the NIC. Pure functions, used by the VirtioNetActor.
 */
public final class VirtioNetRealizeCheck {
    /** QEMU's text. */
    public static final String MIXED_PEER_STATES =
            "Mixed peer states: some peers wait for incoming migration while others don't";
    /** QEMU's text. */
    public static final String WAITING_WITHOUT_INCOMING =
            "Peers wait for incoming, but it's not an incoming migration.";

    private VirtioNetRealizeCheck() {
    }

    /**
     * Checks the peers of one NIC: all wait for incoming or none do, and waiting peers need the
     * {@code inmigrate} run state.
     *
     * @return true when the peers wait for incoming (host features are then the full set until
     *         the NIC section loads)
     */
    public static boolean checkPeers(List<PeerState> peers, RunState runState) {
        if (peers.isEmpty()) {
            throw new OptionException("virtio-net needs a netdev with at least one queue");
        }
        long waiting = peers.stream().filter(p -> p == PeerState.WAITING_INCOMING).count();
        if (waiting != 0 && waiting != peers.size()) {
            throw new OptionException(MIXED_PEER_STATES);
        }
        boolean allWaiting = waiting == peers.size();
        if (allWaiting && runState != RunState.INMIGRATE) {
            throw new OptionException(WAITING_WITHOUT_INCOMING);
        }
        return allWaiting;
    }

    /** The backend travels in the stream iff migration {@code local} and the device's {@code backend-transfer} are both on. */
    public static boolean backendTravels(MigrationParameters parameters, boolean deviceBackendTransfer) {
        return parameters.local() && deviceBackendTransfer;
    }

    /** As {@link #backendTravels(MigrationParameters, boolean)}, resolving the device's compat default on {@code machine}. */
    public static boolean backendTravels(MigrationParameters parameters, VirtioNetDeviceOptions device,
            MachineType machine) {
        return backendTravels(parameters, device.backendTransfer(machine));
    }

    /**
     * Why a migration target's NIC refuses the backend state (the TAP queue fds) a stream brings,
     * or empty when it takes it: semantic 1 holds on the target too, so the target's own switches
     * (migration parameter {@code local}, and the device's {@code backend-transfer} in the v10 form
     * or the netdev's {@code local-migration-supported} in the v17 form), read when the incoming
     * migration starts, must be on. The text names each switch that is off.
     */
    public static Optional<String> incomingBackendRefusal(String deviceId, MigrationParameters parameters,
            VirtioNetDeviceOptions device, TapNetdevOptions netdev, MachineType machine) {
        if (backendTravels(parameters, device, netdev, machine)) {
            return Optional.empty();
        }
        List<String> off = new ArrayList<>();
        if (!parameters.local()) {
            off.add("migration parameter 'local' is off");
        }
        if (netdev.v17Form(machine)) {
            if (!netdev.localMigrationSupported(machine)) {
                off.add("netdev '" + netdev.id() + "' has local-migration-supported=off");
            }
            if (!device.backendTransferOption().orElse(true)) {
                off.add("device '" + deviceId + "' has backend-transfer=off");
            }
        } else if (!device.backendTransfer(machine)) {
            off.add("device '" + deviceId + "' has backend-transfer=off" + (device.backendTransferOption().isPresent() ? ""
                    : " (the default of machine type " + machine.name() + ")"));
        }
        return Optional.of("the stream carries the TAP backend of '" + deviceId + "' (" + INCOMING_BACKEND_WHAT
                + ") but this target's switches refuse it: " + String.join(", ", off) + "; the backend travels only when"
                + " the switches are on on both sides (set them on the target before migrate-incoming); the fds that"
                + " arrived were closed");
    }

    /** What the refused state is, in {@link #incomingBackendRefusal}'s text. */
    static final String INCOMING_BACKEND_WHAT = "virtio-net-nic: its queue fds";

    /**
     * The rule of the NIC's form. v10 (the netdev has no {@code local-migration-supported}): {@code local}
     * and the device's effective {@code backend-transfer}. v17: {@code local} and the netdev's
     * {@code local-migration-supported}; v17 has no device switch, so the device's compat default does
     * not apply, but an explicit {@code backend-transfer=off} on the device still keeps the backend home
     * (a switch the control plane set is never ignored).
     */
    public static boolean backendTravels(MigrationParameters parameters, VirtioNetDeviceOptions device,
            TapNetdevOptions netdev, MachineType machine) {
        if (!netdev.v17Form(machine)) {
            return backendTravels(parameters, device, machine);
        }
        return parameters.local() && netdev.localMigrationSupported(machine)
                && device.backendTransferOption().orElse(true);
    }
}
