package dev.livetap.actors.options;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A virtio-net NIC ({@code -device virtio-net-pci,...} or QMP {@code device_add}). Unset
 * properties stay empty so that machine-type compat defaults can apply:
 * {@code backend-transfer} defaults to true, and to false on machine types up to 10.2 (see
 * {@link MachineCompat}); a value set on the device overrides the compat default.
 *
 * <p>Without {@code mac=} the address is derived from the device id (or the netdev id when
 * the device has none) by {@link MacAddress#derivedFrom}: deterministic, never random.
 */
public record VirtioNetDeviceOptions(
        Optional<String> id,
        String netdev,
        Optional<MacAddress> mac,
        Optional<Boolean> mq,
        Optional<Boolean> backendTransferOption) {

    /** The only device driver livetap models. */
    public static final String DRIVER = "virtio-net-pci";
    public static final String BACKEND_TRANSFER = "backend-transfer";
    /** QEMU's text. */
    public static final String MULTICAST_MAC = "NIC cannot have multicast MAC address (odd 1st byte)";
    public static final String ZERO_MAC = "NIC cannot have the all-zero MAC address";
    /** Every property name accepted (besides {@code driver} and {@link #PCI_PROPERTIES}). */
    public static final List<String> OPTION_NAMES = List.of("id", "netdev", "mac", "mq", BACKEND_TRANSFER);
    /**
     * virtio-net-pci's PCI placement, ROM and MSI-X properties that libvirt passes: checked for their
     * type and accepted; livetap models no PCI bus, so they change nothing.
     */
    public static final List<String> PCI_PROPERTIES = List.of("bus", "addr", "romfile", "vectors", "disable-legacy",
            "disable-modern", "multifunction", "rombar", "bootindex");

    public VirtioNetDeviceOptions {
        id = Optional.ofNullable(id).flatMap(x -> x);
        id.ifPresent(x -> Names.requireId("id", x));
        if (netdev == null) {
            throw OptionValues.missing("netdev");
        }
        Names.requireId("netdev", netdev);
        mac = Optional.ofNullable(mac).flatMap(x -> x);
        mac.ifPresent(VirtioNetDeviceOptions::requireUnicast);
        mq = Optional.ofNullable(mq).flatMap(x -> x);
        backendTransferOption = Optional.ofNullable(backendTransferOption).flatMap(x -> x);
    }

    private static void requireUnicast(MacAddress mac) {
        if (mac.isMulticast()) {
            throw new OptionException(MULTICAST_MAC);
        }
        if (mac.isZero()) {
            throw new OptionException(ZERO_MAC);
        }
    }

    /** Parses {@code virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:12:34:56,mq=on,backend-transfer=off}. */
    public static VirtioNetDeviceOptions parse(String optionString) {
        return from(OptionValues.ofOptionString(optionString, "driver"));
    }

    /** Reads QMP {@code device_add} arguments (JSON types: {@code mq} and {@code backend-transfer} booleans). */
    public static VirtioNetDeviceOptions fromQmp(Map<String, ?> arguments) {
        return from(OptionValues.ofQmp(arguments));
    }

    private static VirtioNetDeviceOptions from(OptionValues v) {
        String driver = v.requiredString("driver");
        if (!driver.equals(DRIVER)) {
            throw new OptionException("livetap supports only device driver '" + DRIVER + "'; got '" + driver + "'");
        }
        List<String> known = new ArrayList<>(OPTION_NAMES);
        known.add("driver");
        known.addAll(PCI_PROPERTIES);
        v.rejectUnknown(known);
        v.string("bus");
        v.string("addr");
        v.string("romfile");
        v.integer("vectors", 0, 2048, "an MSI-X vector count from 0 to 2048");
        v.integer("rombar", 0, 1, "0 or 1");
        v.integer("bootindex", -1, Integer.MAX_VALUE, "a boot index");
        v.bool("multifunction");
        for (String onOffAuto : List.of("disable-legacy", "disable-modern")) {
            v.string(onOffAuto).filter(x -> !List.of("on", "off", "auto").contains(x)).ifPresent(x -> {
                throw new OptionException("Parameter '" + onOffAuto + "' does not accept value '" + x + "'");
            });
        }
        Optional<MacAddress> mac = v.string("mac").map(text -> {
            try {
                return MacAddress.parse(text);
            } catch (IllegalArgumentException e) {
                throw new OptionException("Property '" + DRIVER + ".mac' doesn't take value '" + text + "'");
            }
        });
        return new VirtioNetDeviceOptions(v.string("id"), v.requiredString("netdev"), mac, v.bool("mq"),
                v.bool(BACKEND_TRANSFER));
    }

    /** The NIC's address: {@code mac=}, else derived from the device id or, failing that, the netdev id. */
    public MacAddress macAddress() {
        return mac.orElseGet(() -> MacAddress.derivedFrom(id.orElse(netdev)));
    }

    /** {@code mq}, default off as in QEMU. */
    public boolean multiqueue() {
        return mq.orElse(false);
    }

    /**
     * The effective {@code backend-transfer} on {@code machine}: the device's own value, else
     * the machine type's compat default, else true.
     */
    public boolean backendTransfer(MachineType machine) {
        if (backendTransferOption.isPresent()) {
            return backendTransferOption.get();
        }
        return MachineCompat.defaultFor(machine, DRIVER, BACKEND_TRANSFER).map(Boolean::parseBoolean).orElse(true);
    }

    /** QEMU's text when the named netdev does not exist. */
    public void requireNetdevAmong(Collection<String> netdevIds) {
        if (!netdevIds.contains(netdev)) {
            throw new OptionException("Property '" + DRIVER + ".netdev' can't find value '" + netdev + "'");
        }
    }

    /** QEMU's text when another device already uses the netdev. */
    public void requireNetdevUnused(Collection<String> netdevIdsInUse) {
        if (netdevIdsInUse.contains(netdev)) {
            throw new OptionException(
                    "Property '" + DRIVER + ".netdev' can't take value '" + netdev + "', it's in use");
        }
    }
}
