package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The commands a QMP server offers, in registration order (so query-commands is deterministic),
 * with QAPI-style argument validation. Thread-safe for lookups after registration; register
 * before the server starts.
 */
public final class QmpCommandRegistry {
    private final Map<String, QmpCommand> commands = Collections.synchronizedMap(new LinkedHashMap<>());

    /** Adds a command; a second command with the same name is a programming error. */
    public QmpCommandRegistry register(QmpCommand command) {
        synchronized (commands) {
            if (commands.containsKey(command.name())) {
                throw new IllegalStateException("QMP command registered twice: " + command.name());
            }
            commands.put(command.name(), command);
        }
        return this;
    }

    public Optional<QmpCommand> find(String name) {
        return Optional.ofNullable(commands.get(name));
    }

    /** Command names in registration order. */
    public List<String> names() {
        synchronized (commands) {
            return List.copyOf(commands.keySet());
        }
    }

    /**
     * Checks {@code args} against the command's schema, with QAPI's texts. Nothing is changed;
     * a failure means the command must not run (the spec promises no side effects then).
     */
    static void validate(QmpCommand command, ObjectNode args) {
        checkMembers(command.args(), command.extraArgs(), args, "");
    }

    private static void checkMembers(List<QmpArg> schema, boolean extra, JsonNode object, String prefix) {
        Set<String> declared = new HashSet<>();
        for (QmpArg arg : schema) {
            declared.add(arg.name());
            JsonNode value = object.get(arg.name());
            String full = prefix + arg.name();
            if (value == null) {
                if (arg.required()) {
                    throw QmpException.generic("Parameter '" + full + "' is missing");
                }
                continue;
            }
            checkValue(arg, value, full);
        }
        if (!extra) {
            // report the first undeclared member in input order, as QEMU's visitor does
            for (Map.Entry<String, JsonNode> e : object.properties()) {
                if (!declared.contains(e.getKey())) {
                    throw QmpException.generic("Parameter '" + prefix + e.getKey() + "' is unexpected");
                }
            }
        }
    }

    private static void checkValue(QmpArg arg, JsonNode value, String full) {
        if (!arg.type().accepts(value)) {
            throw QmpException.generic("Invalid parameter type for '" + full + "', expected: " + arg.type().qapiName());
        }
        if (!arg.allowedValues().isEmpty() && !arg.allowedValues().contains(value.textValue())) {
            throw QmpException.generic("Parameter '" + full + "' does not accept value '" + value.textValue() + "'");
        }
        if (arg.elements() == null) {
            return;
        }
        if (arg.type() == QmpType.OBJECT) {
            checkMembers(arg.elements(), false, value, full + ".");
        } else if (arg.type() == QmpType.ARRAY) {
            boolean scalar = arg.elements().size() == 1 && arg.elements().get(0).name().isEmpty();
            for (int i = 0; i < value.size(); i++) {
                String element = full + "[" + i + "]";
                JsonNode v = value.get(i);
                if (scalar) {
                    QmpArg e = arg.elements().get(0);
                    checkValue(new QmpArg(element, e.type(), true, e.allowedValues(), e.elements()), v, element);
                } else {
                    if (!v.isObject()) {
                        throw QmpException.generic("Invalid parameter type for '" + element + "', expected: object");
                    }
                    checkMembers(arg.elements(), false, v, element + ".");
                }
            }
        }
    }
}
