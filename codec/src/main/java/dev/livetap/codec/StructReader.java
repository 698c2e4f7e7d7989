package dev.livetap.codec;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.cbor.CBORParser;
import dev.livetap.nativeio.OwnedFd;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads struct values from a CBOR payload against local schemas. Every mismatch is a
 * {@link StreamFormatException} naming the section and field path. post_load hooks are only
 * collected here (children before parents) and run once the whole frame has been verified.
 */
final class StructReader {
    private final CBORParser p;
    private final List<OwnedFd> fds;
    private final boolean[] used;
    private int usedCount;
    private final String section;
    final List<StateStruct> postLoads = new ArrayList<>();

    StructReader(CBORParser p, List<OwnedFd> fds, String section) {
        this.p = p;
        this.fds = fds;
        this.used = new boolean[fds.size()];
        this.section = section;
    }

    int usedSlots() {
        return usedCount;
    }

    /** After the START_ARRAY of [name, version, fields, subsections]. */
    StateStruct readNamedAfterStart(Schema expected, FieldPath path, int depth) throws IOException {
        if (depth > Wire.MAX_DEPTH) {
            throw fail(path, "structs nested deeper than " + Wire.MAX_DEPTH);
        }
        String name = text(path, "struct name");
        if (!name.equals(expected.name())) {
            throw fail(path, "expected a " + expected.name() + " struct, found " + name);
        }
        int version = version(path);
        checkVersion(expected, version, path);
        StateStruct s = readBody(expected, version, path, depth);
        expect(JsonToken.END_ARRAY, path, "end of struct " + name);
        return s;
    }

    void checkVersion(Schema local, int version, FieldPath path) {
        if (version > local.version()) {
            throw new StreamFormatException(StreamFormatException.Reason.VERSION, section, path.toString(),
                    local.name() + " version " + version + " in the stream is newer than version " + local.version()
                            + " known here", null);
        }
        if (version < local.minVersion()) {
            throw new StreamFormatException(StreamFormatException.Reason.VERSION, section, path.toString(),
                    local.name() + " version " + version + " in the stream is older than minimum version "
                            + local.minVersion() + " loadable here (current " + local.version() + ")", null);
        }
    }

    int version(FieldPath path) throws IOException {
        long v = uint(path, "version", 0xFFFF_FFFFL);
        if (v < 1 || v > Integer.MAX_VALUE) {
            throw fail(path, "version " + v + " out of range");
        }
        return (int) v;
    }

    /** The fields map, then the subsections array. */
    StateStruct readBody(Schema schema, int version, FieldPath path, int depth) throws IOException {
        StateStruct s = schema.newStruct();
        try {
            schema.preLoad().run(s);
        } catch (Exception e) {
            throw new StreamFormatException(StreamFormatException.Reason.HOOK_FAILED, section, path.toString(),
                    "pre_load of " + schema.name() + " failed: " + e.getMessage(), e);
        }
        expect(JsonToken.START_OBJECT, path, "fields of " + schema.name());
        List<Field> fields = schema.fields();
        for (int i = 0; i < fields.size(); i++) {
            Field f = fields.get(i);
            if (f.since() > version) {
                continue;
            }
            JsonToken t = next();
            if (t != JsonToken.FIELD_NAME) {
                throw fail(path, "missing field " + f.name() + " of " + schema.name() + " version " + version
                        + ", found " + describe(t));
            }
            String key = p.currentName();
            if (!f.name().equals(key)) {
                throw fail(path, "expected field " + f.name() + " of " + schema.name() + ", found " + key);
            }
            FieldPath fp = path.child(f.name());
            s.rawSet(i, readValue(s, f, fp, depth));
        }
        JsonToken t = next();
        if (t == JsonToken.FIELD_NAME) {
            throw fail(path, "unknown field " + p.currentName() + " in " + schema.name() + " version " + version);
        }
        if (t != JsonToken.END_OBJECT) {
            throw fail(path, "expected end of fields of " + schema.name() + ", found " + describe(t));
        }
        expect(JsonToken.START_ARRAY, path, "subsections of " + schema.name());
        List<Schema.Subsection> subs = schema.subsections();
        while ((t = next()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.START_ARRAY) {
                throw fail(path, "expected a subsection of " + schema.name() + ", found " + describe(t));
            }
            String name = text(path, "subsection name");
            int idx = -1;
            for (int i = 0; i < subs.size(); i++) {
                if (subs.get(i).schema().name().equals(name)) {
                    idx = i;
                }
            }
            FieldPath sp = path.child(name);
            if (idx < 0) {
                throw fail(sp, "unknown subsection " + name + " of " + schema.name());
            }
            if (s.rawSubsection(idx) != null) {
                throw fail(sp, "subsection " + name + " appears twice");
            }
            Schema subSchema = subs.get(idx).schema();
            int v = version(sp);
            checkVersion(subSchema, v, sp);
            s.rawSetSubsection(idx, readBody(subSchema, v, sp, depth + 1));
            expect(JsonToken.END_ARRAY, sp, "end of subsection " + name);
        }
        postLoads.add(s);
        return s;
    }

    private Object readValue(StateStruct owner, Field f, FieldPath path, int depth) throws IOException {
        switch (f.kind()) {
            case BOOL: {
                JsonToken t = next();
                if (t != JsonToken.VALUE_TRUE && t != JsonToken.VALUE_FALSE) {
                    throw fail(path, "expected a bool, found " + describe(t));
                }
                untagged(path);
                return t == JsonToken.VALUE_TRUE;
            }
            case U8: case U16: case U32: case U64:
                return uint(path, f.kind().typeName(), f.maxUnsigned());
            case BYTES: {
                JsonToken t = next();
                if (t != JsonToken.VALUE_EMBEDDED_OBJECT) {
                    throw fail(path, "expected bytes, found " + describe(t));
                }
                untagged(path);
                byte[] b = p.getBinaryValue();
                if (b.length < f.minLength() || b.length > f.maxLength()) {
                    throw fail(path, b.length + " bytes, expected " + f.minLength() + ".." + f.maxLength());
                }
                return b;
            }
            case FD: {
                JsonToken t = next();
                if (t == JsonToken.VALUE_NULL) {
                    untagged(path);
                    return null;
                }
                if (t != JsonToken.VALUE_NUMBER_INT || p.getCurrentTag() != Wire.FD_TAG
                        || p.getCurrentTags().size() != 1) {
                    throw fail(path, "expected an fd slot (tag " + Wire.FD_TAG + ") or null, found " + describe(t));
                }
                long slot = p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? -1 : p.getLongValue();
                if (slot < 0 || slot >= fds.size()) {
                    throw fail(path, "fd slot " + (slot < 0 ? p.getText() : slot) + " out of range (frame has "
                            + fds.size() + " fds)");
                }
                if (used[(int) slot]) {
                    throw fail(path, "fd slot " + slot + " referenced twice");
                }
                used[(int) slot] = true;
                usedCount++;
                return fds.get((int) slot);
            }
            case STRUCT:
                expect(JsonToken.START_ARRAY, path, "a " + f.schema().name() + " struct");
                return readNamedAfterStart(f.schema(), path, depth + 1);
            case GROUP: {
                JsonToken t = next();
                if (t == JsonToken.VALUE_NULL) {
                    untagged(path);
                    return null;
                }
                if (t != JsonToken.START_ARRAY) {
                    throw fail(path, "expected a " + f.schema().name() + " group or null, found " + describe(t));
                }
                untagged(path);
                return readNamedAfterStart(f.schema(), path, depth + 1);
            }
            case VARRAY: {
                long n = owner.getUint(f.lengthField());
                expect(JsonToken.START_ARRAY, path, "an array");
                List<StateStruct> list = new ArrayList<>((int) Math.min(n, 64));
                JsonToken t;
                while ((t = next()) != JsonToken.END_ARRAY) {
                    FieldPath ep = path.index(list.size());
                    if (list.size() >= n) {
                        throw fail(ep, "more elements than length field " + f.lengthField() + " = " + n);
                    }
                    if (t != JsonToken.START_ARRAY) {
                        throw fail(ep, "expected a struct, found " + describe(t));
                    }
                    untagged(ep);
                    Schema es;
                    try {
                        es = f.elementSchema(list.size());
                    } catch (RuntimeException e) {
                        throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, section, ep.toString(),
                                "no local element schema: " + e.getMessage(), e);
                    }
                    list.add(readNamedAfterStart(es, ep, depth + 1));
                }
                if (list.size() != n) {
                    throw fail(path, list.size() + " elements but length field " + f.lengthField() + " = " + n);
                }
                return List.copyOf(list);
            }
            default:
                throw new IllegalStateException("unknown kind " + f.kind());
        }
    }

    long uint(FieldPath path, String what, long max) throws IOException {
        JsonToken t = next();
        if (t != JsonToken.VALUE_NUMBER_INT) {
            throw fail(path, "expected " + what + " (unsigned integer), found " + describe(t));
        }
        untagged(path);
        long v;
        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
            BigInteger b = p.getBigIntegerValue();
            if (b.signum() < 0 || b.bitLength() > 64 || max != -1L) {
                throw fail(path, b + " is out of range for " + what);
            }
            v = b.longValue();
        } else {
            v = p.getLongValue();
            if (v < 0 || (max != -1L && v > max)) {
                throw fail(path, v + " is out of range for " + what + " (0.." + max + ")");
            }
        }
        return v;
    }

    String text(FieldPath path, String what) throws IOException {
        JsonToken t = next();
        if (t != JsonToken.VALUE_STRING) {
            throw fail(path, "expected " + what + " (text), found " + describe(t));
        }
        untagged(path);
        return p.getText();
    }

    void expect(JsonToken want, FieldPath path, String what) throws IOException {
        JsonToken t = next();
        if (t != want) {
            throw fail(path, "expected " + what + ", found " + describe(t));
        }
        untagged(path);
    }

    private void untagged(FieldPath path) {
        if (p.getCurrentTag() != -1) {
            throw fail(path, "unexpected CBOR tag " + p.getCurrentTag());
        }
    }

    JsonToken next() throws IOException {
        JsonToken t = p.nextToken();
        if (t == null) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, section, null,
                    "payload ends in the middle of a value", null);
        }
        return t;
    }

    private static String describe(JsonToken t) {
        if (t == null) {
            return "end of payload";
        }
        switch (t) {
            case START_ARRAY: return "an array";
            case END_ARRAY: return "end of array";
            case START_OBJECT: return "a map";
            case END_OBJECT: return "end of map";
            case FIELD_NAME: return "a map key";
            case VALUE_STRING: return "text";
            case VALUE_NUMBER_INT: return "an integer";
            case VALUE_NUMBER_FLOAT: return "a float";
            case VALUE_TRUE: case VALUE_FALSE: return "a bool";
            case VALUE_NULL: return "null";
            case VALUE_EMBEDDED_OBJECT: return "bytes";
            default: return t.toString();
        }
    }

    StreamFormatException fail(FieldPath path, String detail) {
        return new StreamFormatException(StreamFormatException.Reason.MALFORMED, section, path.toString(), detail, null);
    }
}
