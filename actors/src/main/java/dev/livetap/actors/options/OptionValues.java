package dev.livetap.actors.options;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;

/**
 * Typed reads from one set of raw option values, phrasing every mistake as QEMU does for the
 * given source. Package-private: the public face is the parsers of the option records.
 */
final class OptionValues {
    private final OptionSource source;
    private final Map<String, Object> values;

    private OptionValues(OptionSource source, Map<String, Object> values) {
        this.source = source;
        this.values = values;
    }

    /** Values from a QMP argument object, in the order given. */
    static OptionValues ofQmp(Map<String, ?> arguments) {
        if (arguments == null) {
            throw new OptionException("QMP arguments are missing");
        }
        Map<String, Object> copy = new LinkedHashMap<>();
        arguments.forEach((k, v) -> {
            if (k == null) {
                throw new OptionException("QMP arguments contain a null name");
            }
            copy.put(k, v);
        });
        return new OptionValues(OptionSource.QMP, copy);
    }

    /**
     * Splits a QEMU option string: {@code key=value} pairs separated by commas, where ",," is
     * a literal comma inside a value. If {@code implicitKey} is not null, a first element
     * without '=' is the value of that key (QEMU's {@code tap,...} is {@code type=tap,...}).
     */
    static OptionValues ofOptionString(String text, String implicitKey) {
        if (text == null || text.isEmpty()) {
            throw new OptionException("Empty option string");
        }
        Map<String, Object> parsed = new LinkedHashMap<>();
        List<String> elements = splitOnSingleCommas(text);
        for (int i = 0; i < elements.size(); i++) {
            String element = elements.get(i);
            int eq = element.indexOf('=');
            String key;
            String value;
            if (eq < 0) {
                if (i == 0 && implicitKey != null) {
                    key = implicitKey;
                    value = element;
                } else {
                    throw new OptionException("Invalid option '" + element + "': expected key=value");
                }
            } else {
                key = element.substring(0, eq);
                value = element.substring(eq + 1);
            }
            if (key.isEmpty()) {
                throw new OptionException("Invalid option '" + element + "': the parameter name is empty");
            }
            if (parsed.containsKey(key)) {
                throw new OptionException("Parameter '" + key + "' is given more than once");
            }
            parsed.put(key, value);
        }
        return new OptionValues(OptionSource.OPTION_STRING, parsed);
    }

    private static List<String> splitOnSingleCommas(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',') {
                if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    current.append(',');
                    i++;
                } else {
                    out.add(current.toString());
                    current.setLength(0);
                }
            } else {
                current.append(c);
            }
        }
        out.add(current.toString());
        return out;
    }

    OptionSource source() {
        return source;
    }

    boolean has(String name) {
        return values.containsKey(name);
    }

    /** Refuses any name outside {@code known}, naming the first such one (in input order). */
    void rejectUnknown(Collection<String> known) {
        for (String name : values.keySet()) {
            if (!known.contains(name)) {
                throw unknown(name);
            }
        }
    }

    OptionException unknown(String name) {
        return source == OptionSource.QMP
                ? new OptionException("Parameter '" + name + "' is unexpected")
                : new OptionException("Invalid parameter '" + name + "'",
                        "Valid parameters are listed in docs/options.md");
    }

    static OptionException missing(String name) {
        return new OptionException("Parameter '" + name + "' is missing");
    }

    private OptionException wrongType(String name, String qmpType, String optionStringExpectation) {
        return source == OptionSource.QMP
                ? new OptionException("Invalid parameter type for '" + name + "', expected: " + qmpType)
                : new OptionException("Parameter '" + name + "' expects " + optionStringExpectation);
    }

    Optional<String> string(String name) {
        if (!values.containsKey(name)) {
            return Optional.empty();
        }
        Object v = values.get(name);
        if (v instanceof String s) {
            return Optional.of(s);
        }
        throw wrongType(name, "string", "a string");
    }

    String requiredString(String name) {
        return string(name).orElseThrow(() -> missing(name));
    }

    /** QEMU's boolean spellings on the command line: on/off, yes/no, true/false, y/n. */
    Optional<Boolean> bool(String name) {
        if (!values.containsKey(name)) {
            return Optional.empty();
        }
        Object v = values.get(name);
        if (source == OptionSource.QMP) {
            if (v instanceof Boolean b) {
                return Optional.of(b);
            }
            throw wrongType(name, "boolean", "'on' or 'off'");
        }
        if (v instanceof String s) {
            switch (s) {
                case "on", "yes", "true", "y":
                    return Optional.of(true);
                case "off", "no", "false", "n":
                    return Optional.of(false);
                default:
                    break;
            }
        }
        throw wrongType(name, "boolean", "'on' or 'off'");
    }

    /**
     * An integer in {@code [min, max]}; {@code rangeText} completes "Parameter 'x' expects …"
     * when the value is out of range.
     */
    OptionalLong integer(String name, long min, long max, String rangeText) {
        if (!values.containsKey(name)) {
            return OptionalLong.empty();
        }
        Object v = values.get(name);
        BigInteger value;
        if (source == OptionSource.QMP) {
            if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
                value = BigInteger.valueOf(((Number) v).longValue());
            } else if (v instanceof BigInteger b) {
                value = b;
            } else {
                throw wrongType(name, "integer", "an integer");
            }
        } else {
            if (!(v instanceof String s) || !s.matches("[+-]?[0-9]+")) {
                throw wrongType(name, "integer", "an integer");
            }
            value = new BigInteger(s);
        }
        if (value.compareTo(BigInteger.valueOf(min)) < 0 || value.compareTo(BigInteger.valueOf(max)) > 0) {
            throw new OptionException("Parameter '" + name + "' expects " + rangeText);
        }
        return OptionalLong.of(value.longValueExact());
    }

    static String sortedNames(Set<String> names) {
        return String.join(", ", new TreeSet<>(names));
    }
}
