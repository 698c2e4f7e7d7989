package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;

/** JSON types of QMP command arguments, named in errors as QAPI names them. */
public enum QmpType {
    STR("string"),
    /** A JSON integer that fits in a signed 64-bit value (QAPI int, size, uint*). */
    INT("integer"),
    BOOL("boolean"),
    /** Any JSON number. */
    NUMBER("number"),
    OBJECT("object"),
    ARRAY("array"),
    /** Any JSON value (QAPI 'any'). */
    ANY("any");

    private final String qapiName;

    QmpType(String qapiName) {
        this.qapiName = qapiName;
    }

    /** The word QAPI uses in "Invalid parameter type for 'x', expected: WORD". */
    public String qapiName() {
        return qapiName;
    }

    public boolean accepts(JsonNode value) {
        return switch (this) {
            case STR -> value.isTextual();
            case INT -> value.isIntegralNumber() && value.canConvertToLong();
            case BOOL -> value.isBoolean();
            case NUMBER -> value.isNumber();
            case OBJECT -> value.isObject();
            case ARRAY -> value.isArray();
            case ANY -> true;
        };
    }
}
