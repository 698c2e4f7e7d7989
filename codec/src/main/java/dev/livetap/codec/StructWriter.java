package dev.livetap.codec;

import com.fasterxml.jackson.dataformat.cbor.CBORGenerator;
import dev.livetap.nativeio.OwnedFd;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Writes struct values as CBOR, collecting fds into the frame's slot list. */
final class StructWriter {
    private final CBORGenerator g;
    private final List<OwnedFd> slots;
    private final String section;

    StructWriter(CBORGenerator g, List<OwnedFd> slots, String section) {
        this.g = g;
        this.slots = slots;
        this.section = section;
    }

    /** [name, version, fields, subsections] */
    void writeNamed(StateStruct s, FieldPath path, int depth) throws IOException {
        if (depth > Wire.MAX_DEPTH) {
            throw new IllegalArgumentException(where(path) + "structs nested deeper than " + Wire.MAX_DEPTH);
        }
        runPreSave(s, path);
        g.writeStartArray(s, 4);
        g.writeString(s.schema().name());
        g.writeNumber(s.schema().version());
        writeBody(s, path, depth);
        g.writeEndArray();
    }

    void runPreSave(StateStruct s, FieldPath path) {
        try {
            s.schema().preSave().run(s);
        } catch (Exception e) {
            throw new IllegalStateException(where(path) + "pre_save of " + s.schema().name() + " failed: " + e.getMessage(), e);
        }
    }

    /** fields map, then subsections array. */
    void writeBody(StateStruct s, FieldPath path, int depth) throws IOException {
        Schema schema = s.schema();
        List<Field> fields = schema.fields();
        g.writeStartObject(s, fields.size());
        for (int i = 0; i < fields.size(); i++) {
            Field f = fields.get(i);
            g.writeFieldName(f.name());
            writeValue(s, f, s.rawValue(i), path.child(f.name()), depth);
        }
        g.writeEndObject();
        List<Schema.Subsection> subs = schema.subsections();
        List<StateStruct> present = new ArrayList<>(subs.size());
        for (int i = 0; i < subs.size(); i++) {
            Schema.Subsection sub = subs.get(i);
            if (sub.needed().test(s)) {
                StateStruct v = s.rawSubsection(i);
                if (v == null) {
                    throw new IllegalArgumentException(where(path) + "subsection " + sub.schema().name()
                            + " is needed but has no value");
                }
                present.add(v);
            }
        }
        g.writeStartArray(present, present.size());
        for (StateStruct v : present) {
            writeNamed(v, path.child(v.schema().name()), depth + 1);
        }
        g.writeEndArray();
    }

    private void writeValue(StateStruct owner, Field f, Object v, FieldPath path, int depth) throws IOException {
        switch (f.kind()) {
            case BOOL:
                g.writeBoolean((Boolean) v);
                break;
            case U8: case U16: case U32:
                g.writeNumber((long) (Long) v);
                break;
            case U64:
                g.writeNumberUnsigned((long) (Long) v);
                break;
            case BYTES:
                byte[] b = (byte[]) v;
                g.writeBinary(b, 0, b.length);
                break;
            case FD:
                if (v == null) {
                    g.writeNull();
                } else {
                    OwnedFd fd = (OwnedFd) v;
                    if (!fd.isOpen()) {
                        throw new IllegalArgumentException(where(path) + "holds " + fd + ", which is closed");
                    }
                    g.writeTag(Wire.FD_TAG);
                    g.writeNumber(slots.size());
                    slots.add(fd);
                }
                break;
            case STRUCT:
                writeNamed((StateStruct) v, path, depth + 1);
                break;
            case GROUP:
                if (f.present(owner)) {
                    if (v == null) {
                        throw new IllegalArgumentException(where(path) + "group test holds but the group has no value");
                    }
                    writeNamed((StateStruct) v, path, depth + 1);
                } else {
                    g.writeNull();
                }
                break;
            case VARRAY:
                List<?> list = (List<?>) v;
                long len = owner.getUint(f.lengthField());
                if (list.size() != len) {
                    throw new IllegalArgumentException(where(path) + "has " + list.size() + " elements but length field "
                            + f.lengthField() + " = " + len);
                }
                g.writeStartArray(list, list.size());
                for (int i = 0; i < list.size(); i++) {
                    StateStruct e = (StateStruct) list.get(i);
                    Schema expected = f.elementSchema(i);
                    if (!expected.name().equals(e.schema().name())) {
                        throw new IllegalArgumentException(where(path) + "element " + i + " is a " + e.schema().name()
                                + ", expected " + expected.name());
                    }
                    writeNamed(e, path.index(i), depth + 1);
                }
                g.writeEndArray();
                break;
            default:
                throw new IllegalStateException("unknown kind " + f.kind());
        }
    }

    private String where(FieldPath path) {
        return "section " + section + (path.toString().isEmpty() ? "" : ", field " + path) + ": ";
    }
}
