package dev.livetap.codec;

import java.util.Objects;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * One entry of a {@link Schema}: a name, a kind, the schema version that introduced it, and
 * the value a loader uses when the stream predates it. Built through {@link Schema.Builder}.
 */
public final class Field {
    /** What a field holds; the lower-case name is the type written in the stream description. */
    public enum Kind {
        BOOL, U8, U16, U32, U64, BYTES, FD, STRUCT, VARRAY, GROUP;

        public String typeName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        boolean isUint() {
            return this == U8 || this == U16 || this == U32 || this == U64;
        }
    }

    private final String name;
    private final Kind kind;
    private final int since;
    private final Object defaultValue;
    private final int minLength;
    private final int maxLength;
    private final Schema schema;
    private final IntFunction<Schema> elementSchema;
    private final String lengthField;
    private final Predicate<StateStruct> test;

    Field(String name, Kind kind, int since, Object defaultValue, int minLength, int maxLength, Schema schema,
          IntFunction<Schema> elementSchema, String lengthField, Predicate<StateStruct> test) {
        this.name = Objects.requireNonNull(name, "name");
        this.kind = kind;
        this.since = since;
        this.defaultValue = defaultValue;
        this.minLength = minLength;
        this.maxLength = maxLength;
        this.schema = schema;
        this.elementSchema = elementSchema;
        this.lengthField = lengthField;
        this.test = test;
    }

    Field withSince(int v) {
        return new Field(name, kind, v, defaultValue, minLength, maxLength, schema, elementSchema, lengthField, test);
    }

    Field withDefault(Object v) {
        return new Field(name, kind, since, v, minLength, maxLength, schema, elementSchema, lengthField, test);
    }

    public String name() {
        return name;
    }

    public Kind kind() {
        return kind;
    }

    /** The first schema version whose streams carry this field (1 for original fields). */
    public int since() {
        return since;
    }

    /** Minimum byte length of a {@link Kind#BYTES} field. */
    public int minLength() {
        return minLength;
    }

    /** Maximum byte length of a {@link Kind#BYTES} field. */
    public int maxLength() {
        return maxLength;
    }

    /** The nested schema of a {@link Kind#STRUCT} or {@link Kind#GROUP} field. */
    public Schema schema() {
        return schema;
    }

    /** The element schema at {@code index} of a {@link Kind#VARRAY}: each element may have its own (peer backends). */
    public Schema elementSchema(int index) {
        Schema s = elementSchema.apply(index);
        if (s == null) {
            throw new IllegalStateException("varray " + name + " has no element schema for index " + index);
        }
        return s;
    }

    /** The u32 field of the same struct holding a {@link Kind#VARRAY}'s length. */
    public String lengthField() {
        return lengthField;
    }

    /** Whether a {@link Kind#GROUP} is written, evaluated on the owning struct at save time. */
    public boolean present(StateStruct owner) {
        return test.test(owner);
    }

    /** Largest value of an unsigned field, as an unsigned long (-1 for u64). */
    long maxUnsigned() {
        switch (kind) {
            case U8: return 0xFFL;
            case U16: return 0xFFFFL;
            case U32: return 0xFFFF_FFFFL;
            case U64: return -1L;
            default: throw new IllegalStateException(name + " is not an unsigned field");
        }
    }

    /** A fresh default value (mutable values are copied so structs never share them). */
    Object freshDefault() {
        if (defaultValue != null) {
            return defaultValue instanceof byte[] ? ((byte[]) defaultValue).clone() : defaultValue;
        }
        switch (kind) {
            case BOOL: return Boolean.FALSE;
            case U8: case U16: case U32: case U64: return 0L;
            case BYTES: return new byte[minLength == maxLength ? minLength : 0];
            case STRUCT: return schema.newStruct();
            case VARRAY: return java.util.List.of();
            default: return null;
        }
    }

    Object defaultValue() {
        return defaultValue;
    }

    @Override
    public String toString() {
        return name + ":" + kind.typeName() + (since > 1 ? "@" + since : "");
    }
}
