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

    /**
     * The series' v17 TAP patch turns {@code local-migration-supported} on from the 11.2 machine types:
     * every older machine type keeps it off. A netdev is no qdev device, so this is the machine's
     * default for {@code -netdev tap}, listed here with the device compat properties.
     */
    public static final CompatProperty LOCAL_MIGRATION_SUPPORTED_OFF =
            new CompatProperty(TapNetdevOptions.TYPE, TapNetdevOptions.LOCAL_MIGRATION_SUPPORTED, "false");

    private MachineCompat() {
    }

    /** The default of the TAP netdev's {@code local-migration-supported} on {@code machine}: on from 11.2. */
    public static boolean localMigrationSupportedDefault(MachineType machine) {
        return defaultFor(machine, TapNetdevOptions.TYPE, TapNetdevOptions.LOCAL_MIGRATION_SUPPORTED)
                .map(Boolean::parseBoolean).orElse(true);
    }

    /** The compat properties {@code machine} applies, in application order. */
    public static List<CompatProperty> propertiesFor(MachineType machine) {
        List<CompatProperty> out = new ArrayList<>();
        if (machine.isAtMost(10, 2)) {
            out.add(BACKEND_TRANSFER_OFF);
        }
        if (machine.isAtMost(11, 1)) {
            out.add(LOCAL_MIGRATION_SUPPORTED_OFF);
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
