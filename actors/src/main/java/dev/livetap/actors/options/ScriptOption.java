package dev.livetap.actors.options;

/**
 * A TAP {@code script=} or {@code downscript=} setting. QEMU tells "absent" from "no" (an absent
 * script means QEMU's default /etc/qemu-ifup; {@code fd=} refuses even {@code script=no}), so
 * all three are kept apart.
 */
public sealed interface ScriptOption {
    /** The option was not given. livetap then runs no script (QEMU would run its default). */
    record Unset() implements ScriptOption {
    }

    /** {@code script=no}: explicitly no script. */
    record Disabled() implements ScriptOption {
    }

    /** A script to run with the interface name as its argument. */
    record Run(String path) implements ScriptOption {
        public Run {
            if (path == null || path.isEmpty() || path.equals("no")) {
                throw new IllegalArgumentException("a script path must be non-empty and not 'no'");
            }
        }
    }

    ScriptOption UNSET = new Unset();
    ScriptOption DISABLED = new Disabled();

    /** Parses an option value: {@code no} or a path. */
    static ScriptOption parse(String name, String value) {
        if (value.isEmpty()) {
            throw new OptionException("Parameter '" + name + "' expects a path or 'no'");
        }
        return value.equals("no") ? DISABLED : new Run(value);
    }

    /** True when the option was given at all, even as {@code no}. */
    default boolean given() {
        return !(this instanceof Unset);
    }

    /** True for a path to run; false for absent or {@code no}. */
    default boolean runs() {
        return this instanceof Run;
    }

    /** The value as it would be written in an option string, or null when unset. */
    default String optionValue() {
        if (this instanceof Run run) {
            return run.path();
        }
        return this instanceof Disabled ? "no" : null;
    }
}
