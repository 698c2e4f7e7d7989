package dev.livetap.actors.options;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Migration capabilities ({@code migrate-set-capabilities} / {@code query-migrate-capabilities}),
 * all off by default as in QEMU.
 *
 * <p>{@code return-path}: <b>livetap always uses the return path</b> (design decision 3: the
 * source reports {@code completed} only after the target answers {@code loaded}), whatever
 * this capability says. The capability is accepted and reported as set, so that management
 * written for QEMU keeps working; {@link #returnPathInUse()} is always true.
 *
 * <p>{@code pause-before-switchover}: see {@link Capability#PAUSE_BEFORE_SWITCHOVER}.
 */
public record MigrationCapabilities(Map<Capability, Boolean> states) {

    /** The capabilities livetap knows, with their QMP names. */
    public enum Capability {
        EVENTS("events"),
        X_IGNORE_SHARED("x-ignore-shared"),
        RETURN_PATH("return-path"),
        /**
         * Source: after the stop, status {@code pre-switchover} until {@code migrate-continue}; the
         * device state is saved and sent only then (QEMU's migration_maybe_pause).
         */
        PAUSE_BEFORE_SWITCHOVER("pause-before-switchover");

        private final String qmpName;

        Capability(String qmpName) {
            this.qmpName = qmpName;
        }

        public String qmpName() {
            return qmpName;
        }

        /** QEMU's enum error text for an unknown name. */
        public static Capability fromQmp(String name) {
            for (Capability c : values()) {
                if (c.qmpName.equals(name)) {
                    return c;
                }
            }
            throw new OptionException("Parameter 'capability' does not accept value '" + name + "'");
        }
    }

    public MigrationCapabilities {
        EnumMap<Capability, Boolean> copy = new EnumMap<>(Capability.class);
        for (Capability c : Capability.values()) {
            copy.put(c, states != null && Boolean.TRUE.equals(states.get(c)));
        }
        states = java.util.Collections.unmodifiableMap(copy);
    }

    public static MigrationCapabilities defaults() {
        return new MigrationCapabilities(Map.of());
    }

    public boolean isOn(Capability c) {
        return states.get(c);
    }

    /** Always true: see the class comment. */
    public boolean returnPathInUse() {
        return true;
    }

    /**
     * {@code migrate-set-capabilities}: {@code {"capabilities": [{"capability": "events",
     * "state": true}, …]}}. All entries are checked before any applies.
     */
    public MigrationCapabilities apply(Map<String, ?> qmpArguments) {
        return with(changesFromQmp(qmpArguments));
    }

    /**
     * The capabilities a {@code migrate-set-capabilities} call sets, all checked (a later entry for
     * the same capability wins), in capability order.
     */
    public static Map<Capability, Boolean> changesFromQmp(Map<String, ?> qmpArguments) {
        OptionValues top = OptionValues.ofQmp(qmpArguments);
        top.rejectUnknown(List.of("capabilities"));
        Object list = qmpArguments.get("capabilities");
        if (list == null) {
            throw OptionValues.missing("capabilities");
        }
        if (!(list instanceof List<?> entries)) {
            throw new OptionException("Invalid parameter type for 'capabilities', expected: array");
        }
        EnumMap<Capability, Boolean> changes = new EnumMap<>(Capability.class);
        for (int i = 0; i < entries.size(); i++) {
            if (!(entries.get(i) instanceof Map<?, ?> raw)) {
                throw new OptionException("Invalid parameter type for 'capabilities[" + i + "]', expected: object");
            }
            Map<String, Object> fields = new java.util.LinkedHashMap<>();
            raw.forEach((k, val) -> fields.put(String.valueOf(k), val));
            OptionValues v = OptionValues.ofQmp(fields);
            v.rejectUnknown(List.of("capability", "state"));
            Capability c = Capability.fromQmp(v.requiredString("capability"));
            boolean state = v.bool("state").orElseThrow(() -> OptionValues.missing("state"));
            changes.put(c, state);
        }
        return java.util.Collections.unmodifiableMap(changes);
    }

    /** The capabilities with {@code changes} set. */
    public MigrationCapabilities with(Map<Capability, Boolean> changes) {
        EnumMap<Capability, Boolean> next = new EnumMap<>(states);
        next.putAll(changes);
        return new MigrationCapabilities(next);
    }

    /** {@code query-migrate-capabilities}: a list of {@code {"capability", "state"}} objects. */
    public List<Map<String, Object>> toQmp() {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Capability c : Capability.values()) {
            Map<String, Object> entry = new java.util.LinkedHashMap<>();
            entry.put("capability", c.qmpName());
            entry.put("state", states.get(c));
            out.add(entry);
        }
        return out;
    }
}
