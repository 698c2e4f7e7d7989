package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code query-qmp-schema}: the registered commands (and the events a frontend emits) in QEMU's
 * introspection format (qapi/introspect.json, SchemaInfo). As QEMU does, every type but the
 * built-ins is named by a number; identical types share one entry. Optional members carry
 * {@code "default": null}. Return types are {@code "0"} (the empty object) for commands that
 * answer {@code {}} and the built-in {@code any} for the queries: modest, but every name it uses is
 * defined.
 */
public final class QmpSchema {
    /** An event and its data members (empty: the event carries no {@code data}). */
    public record Event(String name, List<QmpArg> members) {
        public Event {
            members = List.copyOf(members);
        }
    }

    private final ArrayNode entries = QmpJson.MAPPER.createArrayNode();
    private final Map<String, String> names = new LinkedHashMap<>();
    private final Map<String, Boolean> builtins = new LinkedHashMap<>();
    private int next;

    private QmpSchema() {
    }

    /** Every command but the {@code query-*} ones answers {@code {}} on success. */
    public static ArrayNode introspect(QmpCommandRegistry registry, List<Event> events) {
        QmpSchema s = new QmpSchema();
        String empty = s.objectType(List.of(), false); // "0", as in QEMU
        for (String name : registry.names()) {
            QmpCommand cmd = registry.find(name).orElseThrow();
            ObjectNode e = QmpJson.object();
            e.put("name", name);
            e.put("meta-type", "command");
            e.put("arg-type", s.objectType(cmd.args(), cmd.extraArgs()));
            e.put("ret-type", !name.startsWith("query-") ? empty : s.builtin("any"));
            if (cmd.allowedBeforeNegotiation()) {
                e.put("allow-preconfig", true);
            }
            s.entries.add(e);
        }
        for (Event ev : events) {
            ObjectNode e = QmpJson.object();
            e.put("name", ev.name());
            e.put("meta-type", "event");
            e.put("arg-type", s.objectType(ev.members(), false));
            s.entries.add(e);
        }
        return s.entries;
    }

    private String objectType(List<QmpArg> members, boolean extra) {
        ObjectNode def = QmpJson.object();
        def.put("meta-type", "object");
        ArrayNode list = def.putArray("members");
        for (QmpArg a : members) {
            ObjectNode m = list.addObject();
            m.put("name", a.name());
            m.put("type", type(a));
            if (!a.required()) {
                m.putNull("default");
            }
        }
        // device_add's undeclared properties have no schema: QEMU's device_add is 'gen': false the same way
        return define(def);
    }

    private String type(QmpArg a) {
        if (!a.allowedValues().isEmpty()) {
            ObjectNode def = QmpJson.object();
            def.put("meta-type", "enum");
            ArrayNode values = def.putArray("values");
            ArrayNode members = def.putArray("members");
            for (String v : a.allowedValues()) {
                values.add(v);
                members.addObject().put("name", v);
            }
            return define(def);
        }
        return switch (a.type()) {
            case STR -> builtin("str");
            case INT -> builtin("int");
            case BOOL -> builtin("bool");
            case NUMBER -> builtin("number");
            case ANY -> builtin("any");
            case OBJECT -> a.elements() == null ? builtin("any") : objectType(a.elements(), false);
            case ARRAY -> {
                String element;
                if (a.elements() == null) {
                    element = builtin("any");
                } else if (a.elements().size() == 1 && a.elements().get(0).name().isEmpty()) {
                    element = type(a.elements().get(0));
                } else {
                    element = objectType(a.elements(), false);
                }
                String name = "[" + element + "]"; // QEMU names array types by their element
                if (names.putIfAbsent("array " + name, name) == null) {
                    ObjectNode e = QmpJson.object();
                    e.put("name", name);
                    e.put("meta-type", "array");
                    e.put("element-type", element);
                    entries.add(e);
                }
                yield name;
            }
        };
    }

    private String builtin(String name) {
        if (builtins.putIfAbsent(name, true) == null) {
            ObjectNode e = QmpJson.object();
            e.put("name", name);
            e.put("meta-type", "builtin");
            e.put("json-type", switch (name) {
                case "str" -> "string";
                case "int" -> "int";
                case "bool" -> "boolean";
                case "number" -> "number";
                default -> "value";
            });
            entries.add(e);
        }
        return name;
    }

    /** The number of an identical definition made before, or a new one. */
    private String define(ObjectNode def) {
        String key = QmpJson.text(def);
        String known = names.get(key);
        if (known != null) {
            return known;
        }
        String name = String.valueOf(next++);
        names.put(key, name);
        ObjectNode e = QmpJson.object();
        e.put("name", name);
        e.setAll(def);
        entries.add(e);
        return name;
    }
}
