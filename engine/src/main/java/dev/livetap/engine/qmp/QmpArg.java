package dev.livetap.engine.qmp;

import java.util.List;
import java.util.Objects;

/**
 * One declared argument of a QMP command.
 *
 * @param name the member name as sent on the wire
 * @param type its JSON type
 * @param required whether it must be present
 * @param allowedValues for {@link QmpType#STR}: the enum's values (empty = any string)
 * @param elements for {@link QmpType#ARRAY}: the members of each element when elements are objects,
 *     or a single unnamed ({@code ""}) argument describing each scalar element; for
 *     {@link QmpType#OBJECT}: its members; null = not checked
 */
public record QmpArg(String name, QmpType type, boolean required, List<String> allowedValues, List<QmpArg> elements) {
    public QmpArg {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        allowedValues = List.copyOf(allowedValues);
        elements = elements == null ? null : List.copyOf(elements);
        if (!allowedValues.isEmpty() && type != QmpType.STR) {
            throw new IllegalArgumentException("allowed values need type STR: " + name);
        }
    }

    public static QmpArg required(String name, QmpType type) {
        return new QmpArg(name, type, true, List.of(), null);
    }

    public static QmpArg optional(String name, QmpType type) {
        return new QmpArg(name, type, false, List.of(), null);
    }

    /** A string enum (QAPI 'enum'): other values are refused with "does not accept value". */
    public static QmpArg enumOf(String name, boolean required, String... values) {
        return new QmpArg(name, QmpType.STR, required, List.of(values), null);
    }

    /** An array whose elements are objects with the given members. */
    public static QmpArg arrayOfObjects(String name, boolean required, QmpArg... members) {
        return new QmpArg(name, QmpType.ARRAY, required, List.of(), List.of(members));
    }

    /** An array of enum strings. */
    public static QmpArg arrayOfEnum(String name, boolean required, String... values) {
        return new QmpArg(name, QmpType.ARRAY, required, List.of(), List.of(enumOf("", true, values)));
    }
}
