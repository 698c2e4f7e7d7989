package dev.livetap.codec;

import dev.livetap.nativeio.OwnedFd;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A value of a {@link Schema}: one slot per field, in schema order, plus the subsections present.
 * Devices convert their state to and from it. Setters check kind and range at once, so a bad
 * value fails where it is made, not when the stream is written. Fd fields hold {@link OwnedFd}s:
 * a loaded struct owns them ({@link #closeFds()}), a struct being saved only borrows them.
 * Not thread-safe.
 */
public final class StateStruct {
    private final Schema schema;
    private final Object[] values;
    /** Indexed like {@link Schema#subsections()}; null when absent. */
    private final StateStruct[] subsections;

    StateStruct(Schema schema) {
        this.schema = schema;
        this.values = new Object[schema.fields().size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = schema.fields().get(i).freshDefault();
        }
        this.subsections = new StateStruct[schema.subsections().size()];
    }

    public Schema schema() {
        return schema;
    }

    public StateStruct setBool(String name, boolean v) {
        return set(name, Field.Kind.BOOL, v);
    }

    /** Sets an unsigned field (u8/u16/u32/u64); u64 values above Long.MAX_VALUE are negative longs. */
    public StateStruct setUint(String name, long v) {
        Field f = field(name);
        checkValue(f, v, path(name));
        values[schema.indexOf(name)] = v;
        return this;
    }

    public StateStruct setBytes(String name, byte[] v) {
        return set(name, Field.Kind.BYTES, v.clone());
    }

    /** Sets an fd field; null means "no fd". The struct does not dup it. */
    public StateStruct setFd(String name, OwnedFd fd) {
        Field f = field(name);
        expect(f, Field.Kind.FD);
        values[schema.indexOf(name)] = fd;
        return this;
    }

    /** Sets a struct field, or a group field (null = group absent). */
    public StateStruct setStruct(String name, StateStruct v) {
        Field f = field(name);
        if (f.kind() != Field.Kind.STRUCT && f.kind() != Field.Kind.GROUP) {
            throw new IllegalArgumentException(path(name) + " is a " + f.kind().typeName() + ", not a struct or group");
        }
        checkValue(f, v, path(name));
        values[schema.indexOf(name)] = v;
        return this;
    }

    /** Sets a varray; its length must equal the length field's value when the struct is written. */
    public StateStruct setArray(String name, List<StateStruct> v) {
        return set(name, Field.Kind.VARRAY, List.copyOf(v));
    }

    /** Adds or replaces the subsection with {@code sub}'s schema name. */
    public StateStruct setSubsection(StateStruct sub) {
        subsections[subsectionIndex(sub.schema().name())] = sub;
        return this;
    }

    public StateStruct removeSubsection(String name) {
        subsections[subsectionIndex(name)] = null;
        return this;
    }

    public boolean getBool(String name) {
        return (Boolean) get(name, Field.Kind.BOOL);
    }

    /** An unsigned field as a long (u64 with unsigned meaning). */
    public long getUint(String name) {
        Field f = field(name);
        if (!f.kind().isUint()) {
            throw new IllegalArgumentException(path(name) + " is a " + f.kind().typeName() + ", not an unsigned integer");
        }
        return (Long) values[schema.indexOf(name)];
    }

    /** An unsigned field that must fit an int (u8, u16, or a u32 below 2^31). */
    public int getInt(String name) {
        long v = getUint(name);
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new ArithmeticException(path(name) + " = " + Long.toUnsignedString(v) + " does not fit an int");
        }
        return (int) v;
    }

    public byte[] getBytes(String name) {
        return ((byte[]) get(name, Field.Kind.BYTES)).clone();
    }

    /** The fd of an fd field, or null for "no fd". */
    public OwnedFd getFd(String name) {
        return (OwnedFd) get(name, Field.Kind.FD);
    }

    /** A struct field's value, or a group's value (null when the group was absent). */
    public StateStruct getStruct(String name) {
        Field f = field(name);
        if (f.kind() != Field.Kind.STRUCT && f.kind() != Field.Kind.GROUP) {
            throw new IllegalArgumentException(path(name) + " is a " + f.kind().typeName() + ", not a struct or group");
        }
        return (StateStruct) values[schema.indexOf(name)];
    }

    @SuppressWarnings("unchecked")
    public List<StateStruct> getArray(String name) {
        return (List<StateStruct>) get(name, Field.Kind.VARRAY);
    }

    /** The subsection named {@code name}, or null when absent. */
    public StateStruct subsection(String name) {
        return subsections[subsectionIndex(name)];
    }

    /** Every fd held by this struct and its nested structs, arrays, groups and subsections, in field order. */
    public List<OwnedFd> fds() {
        List<OwnedFd> out = new ArrayList<>();
        collectFds(out);
        return out;
    }

    /** Closes every fd this struct holds (a loaded struct owns them). */
    public void closeFds() {
        OwnedFd.closeAll(fds());
    }

    void collectFds(List<OwnedFd> out) {
        for (int i = 0; i < values.length; i++) {
            Object v = values[i];
            if (v instanceof OwnedFd) {
                out.add((OwnedFd) v);
            } else if (v instanceof StateStruct) {
                ((StateStruct) v).collectFds(out);
            } else if (v instanceof List) {
                for (Object e : (List<?>) v) {
                    ((StateStruct) e).collectFds(out);
                }
            }
        }
        for (StateStruct s : subsections) {
            if (s != null) {
                s.collectFds(out);
            }
        }
    }

    Object rawValue(int i) {
        return values[i];
    }

    void rawSet(int i, Object v) {
        values[i] = v;
    }

    StateStruct rawSubsection(int i) {
        return subsections[i];
    }

    void rawSetSubsection(int i, StateStruct s) {
        subsections[i] = s;
    }

    /**
     * Structural equality for tests and checks: same schema name and version, equal values; fds compare
     * by presence only, since a transferred fd has a new number on the receiving side.
     */
    public boolean sameContent(StateStruct o) {
        if (o == null || !schema.name().equals(o.schema.name()) || values.length != o.values.length) {
            return false;
        }
        for (int i = 0; i < values.length; i++) {
            if (!sameValue(values[i], o.values[i])) {
                return false;
            }
        }
        for (int i = 0; i < subsections.length; i++) {
            StateStruct a = subsections[i];
            StateStruct b = o.subsections[i];
            if ((a == null) != (b == null) || (a != null && !a.sameContent(b))) {
                return false;
            }
        }
        return true;
    }

    private static boolean sameValue(Object a, Object b) {
        if (a == null || b == null) {
            return a == b;
        }
        if (a instanceof OwnedFd) {
            return b instanceof OwnedFd;
        }
        if (a instanceof byte[]) {
            return b instanceof byte[] && Arrays.equals((byte[]) a, (byte[]) b);
        }
        if (a instanceof StateStruct) {
            return b instanceof StateStruct && ((StateStruct) a).sameContent((StateStruct) b);
        }
        if (a instanceof List) {
            List<?> x = (List<?>) a;
            List<?> y = (List<?>) b;
            if (x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!sameValue(x.get(i), y.get(i))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(schema.name()).append('{');
        for (int i = 0; i < values.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            Object v = values[i];
            sb.append(schema.fields().get(i).name()).append('=');
            if (v instanceof byte[]) {
                sb.append(hex((byte[]) v));
            } else if (v instanceof Long && schema.fields().get(i).kind() == Field.Kind.U64) {
                sb.append(Long.toUnsignedString((Long) v));
            } else {
                sb.append(v);
            }
        }
        for (StateStruct s : subsections) {
            if (s != null) {
                sb.append(", +").append(s);
            }
        }
        return sb.append('}').toString();
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return sb.toString();
    }

    /** Checks that {@code v} is a valid value of {@code f}; {@code where} names it in the error. */
    static void checkValue(Field f, Object v, String where) {
        switch (f.kind()) {
            case BOOL:
                require(v instanceof Boolean, where, "a bool", v);
                break;
            case U8: case U16: case U32: case U64:
                require(v instanceof Long, where, "an unsigned integer", v);
                long x = (Long) v;
                if (f.kind() != Field.Kind.U64 && (x < 0 || x > f.maxUnsigned())) {
                    throw new IllegalArgumentException(where + ": " + x + " is out of range for " + f.kind().typeName()
                            + " (0.." + f.maxUnsigned() + ")");
                }
                break;
            case BYTES:
                require(v instanceof byte[], where, "bytes", v);
                int n = ((byte[]) v).length;
                if (n < f.minLength() || n > f.maxLength()) {
                    throw new IllegalArgumentException(where + ": " + n + " bytes, expected " + f.minLength() + ".." + f.maxLength());
                }
                break;
            case FD:
                require(v == null || v instanceof OwnedFd, where, "an OwnedFd or null", v);
                break;
            case STRUCT:
                require(v instanceof StateStruct, where, "a struct", v);
                checkSchema(f.schema(), (StateStruct) v, where);
                break;
            case GROUP:
                require(v == null || v instanceof StateStruct, where, "a struct or null", v);
                if (v != null) {
                    checkSchema(f.schema(), (StateStruct) v, where);
                }
                break;
            case VARRAY:
                require(v instanceof List, where, "a list of structs", v);
                for (Object e : (List<?>) v) {
                    require(e instanceof StateStruct, where, "a list of structs", e);
                }
                break;
            default:
                throw new IllegalStateException("unknown kind " + f.kind());
        }
    }

    private static void checkSchema(Schema expected, StateStruct v, String where) {
        if (!expected.name().equals(v.schema().name())) {
            throw new IllegalArgumentException(where + ": expected a " + expected.name() + " struct, got " + v.schema().name());
        }
    }

    private static void require(boolean ok, String where, String what, Object v) {
        if (!ok) {
            throw new IllegalArgumentException(where + ": expected " + what + ", got "
                    + (v == null ? "null" : v.getClass().getSimpleName()));
        }
    }

    private StateStruct set(String name, Field.Kind kind, Object v) {
        Field f = field(name);
        expect(f, kind);
        checkValue(f, v, path(name));
        values[schema.indexOf(name)] = v;
        return this;
    }

    private Object get(String name, Field.Kind kind) {
        expect(field(name), kind);
        return values[schema.indexOf(name)];
    }

    private Field field(String name) {
        Field f = schema.field(Objects.requireNonNull(name, "name"));
        if (f == null) {
            throw new IllegalArgumentException("schema " + schema.name() + " has no field " + name);
        }
        return f;
    }

    private void expect(Field f, Field.Kind kind) {
        if (f.kind() != kind) {
            throw new IllegalArgumentException(path(f.name()) + " is a " + f.kind().typeName() + ", not a " + kind.typeName());
        }
    }

    private int subsectionIndex(String name) {
        List<Schema.Subsection> subs = schema.subsections();
        for (int i = 0; i < subs.size(); i++) {
            if (subs.get(i).schema().name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("schema " + schema.name() + " has no subsection " + name);
    }

    private String path(String name) {
        return schema.name() + "." + name;
    }
}
