package dev.livetap.actors.options;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Compat defaults per machine type, as QEMU's {@code hw_compat_X_Y} tables: a device created
 * on an older machine type keeps the behaviour that machine type had, unless the device sets
 * the property itself.
 */
public final class MachineCompat {
    /** The last version without backend transfer: {@code hw_compat_10_2}. */
    public static final CompatProperty BACKEND_TRANSFER_OFF =
            new CompatProperty(VirtioNetDeviceOptions.DRIVER, "backend-transfer", "false");

    private MachineCompat() {
    }

    /** The compat properties {@code machine} applies, in application order. */
    public static List<CompatProperty> propertiesFor(MachineType machine) {
        List<CompatProperty> out = new ArrayList<>();
        if (machine.isAtMost(10, 2)) {
            out.add(BACKEND_TRANSFER_OFF);
        }
        return List.copyOf(out);
    }

    /** The compat default of {@code driver.property} on {@code machine}, if it has one. */
    public static Optional<String> defaultFor(MachineType machine, String driver, String property) {
        Optional<String> found = Optional.empty();
        for (CompatProperty p : propertiesFor(machine)) {
            if (p.driver().equals(driver) && p.property().equals(property)) {
                found = Optional.of(p.value());
            }
        }
        return found;
    }
}
