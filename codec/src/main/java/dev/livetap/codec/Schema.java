package dev.livetap.codec;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * A declarative description of one piece of device state, after QEMU's VMStateDescription:
 * a name, a version id, the oldest version still loadable, ordered {@link Field}s,
 * subsections sent only when {@code needed}, and pre_save / pre_load / post_load hooks.
 * Immutable; cheap to build at run time (a NIC builds its own from its peers' schemas).
 */
public final class Schema {
    /** A hook run on a struct; whatever it throws fails the save or load, naming the section. */
    @FunctionalInterface
    public interface Hook {
        void run(StateStruct state) throws Exception;
    }

    /** A subsection: its own schema, written only when {@code needed} holds on the parent at save time. */
    public record Subsection(Schema schema, Predicate<StateStruct> needed) {
        public Subsection {
            Objects.requireNonNull(schema, "schema");
            Objects.requireNonNull(needed, "needed");
        }
    }

    private static final Hook NONE = s -> { };

    private final String name;
    private final int version;
    private final int minVersion;
    private final List<Field> fields;
    private final Map<String, Integer> index;
    private final List<Subsection> subsections;
    private final Hook preSave;
    private final Hook preLoad;
    private final Hook postLoad;

    private Schema(Builder b) {
        this.name = b.name;
        this.version = b.version;
        this.minVersion = b.minVersion;
        this.fields = List.copyOf(b.fields);
        this.subsections = List.copyOf(b.subsections);
        this.preSave = b.preSave;
        this.preLoad = b.preLoad;
        this.postLoad = b.postLoad;
        Map<String, Integer> idx = new HashMap<>();
        for (int i = 0; i < fields.size(); i++) {
            idx.put(fields.get(i).name(), i);
        }
        this.index = idx;
    }

    /** Starts a schema named {@code name} at version {@code version} (minimum version defaults to 1). */
    public static Builder builder(String name, int version) {
        return new Builder(name, version);
    }

    public String name() {
        return name;
    }

    public int version() {
        return version;
    }

    public int minVersion() {
        return minVersion;
    }

    public List<Field> fields() {
        return fields;
    }

    public List<Subsection> subsections() {
        return subsections;
    }

    /** The field named {@code fieldName}, or null. */
    public Field field(String fieldName) {
        Integer i = index.get(fieldName);
        return i == null ? null : fields.get(i);
    }

    int indexOf(String fieldName) {
        Integer i = index.get(fieldName);
        if (i == null) {
            throw new IllegalArgumentException("schema " + name + " has no field " + fieldName);
        }
        return i;
    }

    Subsection subsection(String subName) {
        for (Subsection s : subsections) {
            if (s.schema().name().equals(subName)) {
                return s;
            }
        }
        return null;
    }

    Hook preSave() {
        return preSave;
    }

    Hook preLoad() {
        return preLoad;
    }

    Hook postLoad() {
        return postLoad;
    }

    /** A new value of this schema with every field at its default. */
    public StateStruct newStruct() {
        return new StateStruct(this);
    }

    @Override
    public String toString() {
        return name + " v" + version + " (min " + minVersion + ") " + fields;
    }

    /** Builds a {@link Schema}; {@link #since} and {@link #defaultValue} modify the field added last. */
    public static final class Builder {
        private final String name;
        private final int version;
        private int minVersion = 1;
        private final List<Field> fields = new ArrayList<>();
        private final List<Subsection> subsections = new ArrayList<>();
        private Hook preSave = NONE;
        private Hook preLoad = NONE;
        private Hook postLoad = NONE;

        private Builder(String name, int version) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("schema name must not be empty");
            }
            if (version < 1) {
                throw new IllegalArgumentException("schema " + name + ": version must be >= 1, was " + version);
            }
            this.name = name;
            this.version = version;
        }

        public Builder minVersion(int v) {
            if (v < 1 || v > version) {
                throw new IllegalArgumentException("schema " + name + ": minimum version " + v + " outside 1.." + version);
            }
            this.minVersion = v;
            return this;
        }

        public Builder bool(String field) {
            return add(new Field(field, Field.Kind.BOOL, 1, null, 0, 0, null, null, null, null));
        }

        public Builder u8(String field) {
            return add(new Field(field, Field.Kind.U8, 1, null, 0, 0, null, null, null, null));
        }

        public Builder u16(String field) {
            return add(new Field(field, Field.Kind.U16, 1, null, 0, 0, null, null, null, null));
        }

        public Builder u32(String field) {
            return add(new Field(field, Field.Kind.U32, 1, null, 0, 0, null, null, null, null));
        }

        /** An unsigned 64-bit field; Java longs carry it with unsigned meaning. */
        public Builder u64(String field) {
            return add(new Field(field, Field.Kind.U64, 1, null, 0, 0, null, null, null, null));
        }

        /** A byte string of exactly {@code length} bytes. */
        public Builder bytes(String field, int length) {
            return bytes(field, length, length);
        }

        /** A byte string of {@code minLength} to {@code maxLength} bytes. */
        public Builder bytes(String field, int minLength, int maxLength) {
            if (minLength < 0 || maxLength < minLength) {
                throw new IllegalArgumentException("field " + field + ": bad length bounds " + minLength + ".." + maxLength);
            }
            return add(new Field(field, Field.Kind.BYTES, 1, null, minLength, maxLength, null, null, null, null));
        }

        /** A file descriptor, carried out of band in the section's frame; null means "no fd" (QEMU's -1). */
        public Builder fd(String field) {
            return add(new Field(field, Field.Kind.FD, 1, null, 0, 0, null, null, null, null));
        }

        /** A nested struct with its own schema (and own version). */
        public Builder struct(String field, Schema schema) {
            Objects.requireNonNull(schema, "schema");
            return add(new Field(field, Field.Kind.STRUCT, 1, null, 0, 0, schema, null, null, null));
        }

        /** An array of structs whose length is the u32 field {@code lengthField} declared earlier (VMSTATE_VARRAY_UINT32). */
        public Builder varray(String field, String lengthField, Schema element) {
            Objects.requireNonNull(element, "element");
            return varray(field, lengthField, i -> element);
        }

        /**
         * An array of structs whose element {@code i} has the schema {@code elementSchema.apply(i)}, so that each
         * peer backend supplies its own state description at run time.
         */
        public Builder varray(String field, String lengthField, IntFunction<Schema> elementSchema) {
            Objects.requireNonNull(elementSchema, "elementSchema");
            Field len = null;
            for (Field f : fields) {
                if (f.name().equals(lengthField)) {
                    len = f;
                }
            }
            if (len == null || len.kind() != Field.Kind.U32) {
                throw new IllegalArgumentException("varray " + field + ": length field " + lengthField
                        + " must be a u32 field declared before it in schema " + name);
            }
            return add(new Field(field, Field.Kind.VARRAY, 1, null, 0, 0, null, elementSchema, lengthField, null));
        }

        /** A struct written only when {@code test} holds on the owning struct at save time (after VMSTATE_WITH_TMP_TEST). */
        public Builder group(String field, Schema schema, Predicate<StateStruct> test) {
            Objects.requireNonNull(schema, "schema");
            Objects.requireNonNull(test, "test");
            return add(new Field(field, Field.Kind.GROUP, 1, null, 0, 0, schema, null, null, test));
        }

        /** The field added last first appears in streams of schema version {@code v}. */
        public Builder since(int v) {
            if (v < 1 || v > version) {
                throw new IllegalArgumentException("field " + last().name() + ": since " + v + " outside 1.." + version);
            }
            Field f = last();
            if (f.kind() == Field.Kind.VARRAY) {
                Field len = fields.stream().filter(x -> x.name().equals(f.lengthField())).findFirst().orElseThrow();
                if (len.since() > v) {
                    throw new IllegalArgumentException("varray " + f.name() + " cannot predate its length field " + len.name());
                }
            }
            fields.set(fields.size() - 1, f.withSince(v));
            return this;
        }

        /**
         * The value new structs and loaders of older streams give the field added last: a Boolean, a Long
         * for unsigned fields, a byte[] for bytes, a StateStruct for struct or group.
         */
        public Builder defaultValue(Object value) {
            Field f = last();
            StateStruct.checkValue(f, value, name + "." + f.name());
            fields.set(fields.size() - 1, f.withDefault(value instanceof byte[] ? ((byte[]) value).clone() : value));
            return this;
        }

        public Builder subsection(Schema schema, Predicate<StateStruct> needed) {
            for (Subsection s : subsections) {
                if (s.schema().name().equals(schema.name())) {
                    throw new IllegalArgumentException("schema " + name + ": duplicate subsection " + schema.name());
                }
            }
            subsections.add(new Subsection(schema, needed));
            return this;
        }

        public Builder preSave(Hook hook) {
            this.preSave = Objects.requireNonNull(hook);
            return this;
        }

        public Builder preLoad(Hook hook) {
            this.preLoad = Objects.requireNonNull(hook);
            return this;
        }

        public Builder postLoad(Hook hook) {
            this.postLoad = Objects.requireNonNull(hook);
            return this;
        }

        public Schema build() {
            return new Schema(this);
        }

        private Builder add(Field f) {
            if (f.name().isEmpty()) {
                throw new IllegalArgumentException("schema " + name + ": empty field name");
            }
            for (Field g : fields) {
                if (g.name().equals(f.name())) {
                    throw new IllegalArgumentException("schema " + name + ": duplicate field " + f.name());
                }
            }
            fields.add(f);
            return this;
        }

        private Field last() {
            if (fields.isEmpty()) {
                throw new IllegalStateException("schema " + name + ": no field to modify yet");
            }
            return fields.get(fields.size() - 1);
        }
    }
}
