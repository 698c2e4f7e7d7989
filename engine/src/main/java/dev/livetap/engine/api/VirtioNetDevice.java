package dev.livetap.engine.api;

import java.util.Objects;
import java.util.Optional;

/**
 * A virtio-net NIC ({@code -device virtio-net-pci,...}, QMP {@code device_add}) on a
 * {@link TapNetdev}. Start from {@link #of(String, String)}; the VM checks QEMU's rules.
 *
 * @param id              the device id
 * @param netdev          the id of the TAP netdev it uses
 * @param mac             {@code 52:54:00:12:34:56} form; empty: QEMU's default
 * @param multiqueue      QEMU's {@code mq}; empty: off
 * @param backendTransfer the device property {@code backend-transfer}; empty: the machine type's default
 * @param guestIp         livetap's guest stand-in address for this NIC; empty: the VM's ({@link VmSpec#guestIp()})
 */
public record VirtioNetDevice(String id, String netdev, Optional<String> mac, Optional<Boolean> multiqueue,
        Optional<Boolean> backendTransfer, Optional<String> guestIp) {

    /** Checks only for absent members; QEMU's rules are checked by the VM. */
    public VirtioNetDevice {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(netdev, "netdev");
        Objects.requireNonNull(mac, "mac");
        Objects.requireNonNull(multiqueue, "multiqueue");
        Objects.requireNonNull(backendTransfer, "backendTransfer");
        Objects.requireNonNull(guestIp, "guestIp");
    }

    /** A NIC with this id on this netdev, every property at its default. */
    public static VirtioNetDevice of(String id, String netdev) {
        return new VirtioNetDevice(id, netdev, Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty());
    }

    /** {@code mac=}. */
    public VirtioNetDevice mac(String value) {
        return new VirtioNetDevice(id, netdev, Optional.of(value), multiqueue, backendTransfer, guestIp);
    }

    /** {@code mq=on|off}. */
    public VirtioNetDevice multiqueue(boolean on) {
        return new VirtioNetDevice(id, netdev, mac, Optional.of(on), backendTransfer, guestIp);
    }

    /** {@code backend-transfer=on|off}. */
    public VirtioNetDevice backendTransfer(boolean on) {
        return new VirtioNetDevice(id, netdev, mac, multiqueue, Optional.of(on), guestIp);
    }

    /** livetap's {@code x-guest-ip}. */
    public VirtioNetDevice guestIp(String ipv4) {
        return new VirtioNetDevice(id, netdev, mac, multiqueue, backendTransfer, Optional.of(ipv4));
    }
}
