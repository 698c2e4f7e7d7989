package dev.livetap.actors.options;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A versioned x86 machine type as QEMU names it ({@code pc-q35-10.2}, {@code pc-i440fx-11.0}).
 * The version decides compat defaults (see {@link MachineCompat}); {@code q35} and {@code pc}
 * are aliases of the latest version of each family.
 */
public record MachineType(Family family, int major, int minor) implements Comparable<MachineType> {

    /** The two PC machine families. */
    public enum Family {
        Q35("pc-q35", "q35"),
        I440FX("pc-i440fx", "pc");

        private final String prefix;
        private final String alias;

        Family(String prefix, String alias) {
            this.prefix = prefix;
            this.alias = alias;
        }

        public String prefix() {
            return prefix;
        }

        /** The alias that names the latest version of this family. */
        public String alias() {
            return alias;
        }
    }

    /** Versions modelled, oldest first; the last is what the aliases name. */
    public static final List<String> VERSIONS = List.of("10.0", "10.1", "10.2", "11.0");

    public MachineType {
        if (family == null) {
            throw new IllegalArgumentException("family is required");
        }
        if (!VERSIONS.contains(major + "." + minor)) {
            throw new IllegalArgumentException("unmodelled version " + major + "." + minor);
        }
    }

    /** The latest version of {@code family}, which its alias names. */
    public static MachineType latest(Family family) {
        String[] v = VERSIONS.get(VERSIONS.size() - 1).split("\\.");
        return new MachineType(family, Integer.parseInt(v[0]), Integer.parseInt(v[1]));
    }

    /** Every accepted name (aliases first), mapped to what it names. */
    public static Map<String, MachineType> all() {
        Map<String, MachineType> byName = new java.util.LinkedHashMap<>();
        for (Family f : Family.values()) {
            byName.put(f.alias(), latest(f));
        }
        for (Family f : Family.values()) {
            List<String> newestFirst = new ArrayList<>(VERSIONS);
            Collections.reverse(newestFirst);
            for (String v : newestFirst) {
                String[] parts = v.split("\\.");
                byName.put(f.prefix() + "-" + v,
                        new MachineType(f, Integer.parseInt(parts[0]), Integer.parseInt(parts[1])));
            }
        }
        return byName;
    }

    /**
     * Parses a {@code -machine} type name or alias.
     *
     * @throws OptionException naming every valid type when {@code name} is unknown
     */
    public static MachineType parse(String name) {
        MachineType type = all().get(name);
        if (type == null) {
            throw new OptionException("unsupported machine type '" + name + "'; valid machine types: "
                    + String.join(", ", all().keySet()));
        }
        return type;
    }

    /** The canonical versioned name, e.g. {@code pc-q35-10.2}. */
    public String name() {
        return family.prefix() + "-" + major + "." + minor;
    }

    /** True for this version or older than {@code major.minor}. */
    public boolean isAtMost(int major, int minor) {
        return this.major < major || (this.major == major && this.minor <= minor);
    }

    @Override
    public int compareTo(MachineType other) {
        return Integer.compare(major * 1000 + minor, other.major * 1000 + other.minor);
    }

    @Override
    public String toString() {
        return name();
    }
}
