package dev.livetap.codec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.cbor.CBORGenerator;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Turns sections into native frames, one frame at a time, without any I/O: {@link #header()},
 * then {@link #section} per device, then {@link #end()} and {@link #description()}.
 * A section frame's fds are the struct's fd fields in slot order; the frame <em>borrows</em>
 * them (the caller keeps ownership, as {@code FrameChannel.send} expects). Not thread-safe.
 */
public final class StreamEncoder {
    /**
     * The stream format version this encoder writes by default. 2: every frame ends with a CRC-32C
     * of its payload ({@link FrameChecksum}); 1 had none.
     */
    public static final int FORMAT_VERSION = 2;
    /**
     * The oldest format version this encoder can still write, for a migration to a build that
     * loads only that one (a rollback; the compatibility policy in docs/stream-format.md): the
     * previous format, as {@link StreamDecoder#MIN_FORMAT_VERSION} is the oldest it loads.
     */
    public static final int OLDEST_FORMAT_VERSION = 1;

    private enum State { NEW, SECTIONS, ENDED, DESCRIBED }

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final ObjectMapper CBOR_TREES = new ObjectMapper(Wire.WRITE_FACTORY);

    private final StreamHeader header;
    private final ArrayNode described = NODES.arrayNode();
    private final Set<String> sent = new HashSet<>();
    /** Whether frames end with a CRC-32C (format 2 on). */
    private final boolean checksummed;
    private State state = State.NEW;
    private int sections;

    /** Writes at the header's format version, which must lie in {@link #OLDEST_FORMAT_VERSION}..{@link #FORMAT_VERSION}. */
    public StreamEncoder(StreamHeader header) {
        this.header = Objects.requireNonNull(header, "header");
        if (!writable(header.formatVersion())) {
            throw new IllegalArgumentException(unwritable(header.formatVersion()));
        }
        this.checksummed = header.formatVersion() >= StreamDecoder.FIRST_CHECKSUMMED_FORMAT_VERSION;
    }

    /** Whether this encoder can write format {@code version}. */
    public static boolean writable(int version) {
        return version >= OLDEST_FORMAT_VERSION && version <= FORMAT_VERSION;
    }

    /** Why format {@code version} cannot be written, in one sentence naming what can. */
    public static String unwritable(int version) {
        return "this build writes stream format versions " + OLDEST_FORMAT_VERSION + ".." + FORMAT_VERSION
                + ", not " + version;
    }

    /** The header frame: magic, format version, sender, machine type. */
    public Frame header() {
        expect(State.NEW, "header");
        SealedOutput out = new SealedOutput(64);
        out.writeBytes(Wire.MAGIC);
        out.writeBytes(ByteBuffer.allocate(4).putInt(header.formatVersion()).array());
        try (CBORGenerator g = Wire.WRITE_FACTORY.createGenerator(out)) {
            g.writeStartObject(3);
            g.writeFieldName("pid");
            g.writeNumber(header.pid());
            g.writeFieldName("process");
            g.writeString(header.processName());
            g.writeFieldName("machine");
            g.writeString(header.machineType());
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        state = State.SECTIONS;
        return Frame.of(out.sealed());
    }

    /**
     * One section frame. Runs pre_save hooks; fails with {@link IllegalArgumentException} or
     * {@link IllegalStateException} on a value the schema does not allow (nothing is sent then).
     */
    public Frame section(Section s) {
        expect(State.SECTIONS, "section");
        if (s.version() != s.struct().schema().version()) {
            throw new IllegalArgumentException("section " + s.name() + ": can only write version "
                    + s.struct().schema().version() + " of " + s.struct().schema().name() + ", not " + s.version());
        }
        String key = s.name() + "\u0000" + s.instanceId();
        if (sent.contains(key)) {
            throw new IllegalArgumentException("section " + s.name() + " instance " + s.instanceId() + " sent twice");
        }
        int id = sections + 1;
        String label = s.name() + " instance " + s.instanceId();
        List<OwnedFd> slots = new ArrayList<>();
        SealedOutput out = new SealedOutput(256);
        out.write(Wire.KIND_SECTION);
        try (CBORGenerator g = Wire.WRITE_FACTORY.createGenerator(out)) {
            StructWriter w = new StructWriter(g, slots, label);
            w.runPreSave(s.struct(), FieldPath.ROOT);
            g.writeStartArray(s, 6);
            g.writeNumber(id);
            g.writeString(s.name());
            g.writeNumber(s.instanceId());
            g.writeNumber(s.version());
            w.writeBody(s.struct(), FieldPath.ROOT, 0);
            g.writeEndArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        sections = id;
        sent.add(key);
        ObjectNode d = NODES.objectNode();
        d.put("section_id", id);
        d.put("name", s.name());
        d.put("instance_id", s.instanceId());
        d.put("version", s.version());
        d.put("fds", slots.size());
        describeInto(d, s.struct());
        described.add(d);
        return new Frame(out.sealed(), slots);
    }

    /** The end marker: the number of sections sent. */
    public Frame end() {
        expect(State.SECTIONS, "end marker");
        SealedOutput out = new SealedOutput(8);
        out.write(Wire.KIND_END);
        try (CBORGenerator g = Wire.WRITE_FACTORY.createGenerator(out)) {
            g.writeStartArray(null, 1);
            g.writeNumber(sections);
            g.writeEndArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        state = State.ENDED;
        return Frame.of(out.sealed());
    }

    /** The trailing self-description (QEMU's vmdesc): every section sent, its version and fields. */
    public Frame description() {
        expect(State.ENDED, "description");
        ObjectNode root = NODES.objectNode();
        root.put("format", header.formatVersion());
        root.set("sections", described);
        SealedOutput out = new SealedOutput(1024);
        out.write(Wire.KIND_VMDESC);
        try {
            CBOR_TREES.writeValue(out, root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        state = State.DESCRIBED;
        return Frame.of(out.sealed());
    }

    /** {@link #end()} and {@link #description()}. */
    public List<Frame> trailer() {
        return List.of(end(), description());
    }

    /** The description of everything sent so far (the content of {@link #description()}). */
    public JsonNode describedSections() {
        return described.deepCopy();
    }

    /** A frame payload being written; {@link #sealed()} appends the checksum of everything written (format 2 on). */
    private final class SealedOutput extends ByteArrayOutputStream {
        SealedOutput(int size) {
            super(size + FrameChecksum.BYTES);
        }

        byte[] sealed() {
            if (!checksummed) {
                return toByteArray();
            }
            int crc = FrameChecksum.compute(buf, 0, count);
            write(crc >>> 24);
            write(crc >>> 16);
            write(crc >>> 8);
            write(crc);
            return toByteArray();
        }
    }

    private void expect(State s, String what) {
        if (state != s) {
            throw new IllegalStateException("cannot write the " + what + " now: encoder is at " + state);
        }
    }

    private static ObjectNode describe(StateStruct s) {
        ObjectNode n = NODES.objectNode();
        n.put("name", s.schema().name());
        n.put("version", s.schema().version());
        describeInto(n, s);
        return n;
    }

    private static ObjectNode describe(Schema schema) {
        ObjectNode n = NODES.objectNode();
        n.put("name", schema.name());
        n.put("version", schema.version());
        ArrayNode fields = n.putArray("fields");
        for (Field f : schema.fields()) {
            ObjectNode fd = fieldHead(f);
            if (f.kind() == Field.Kind.STRUCT || f.kind() == Field.Kind.GROUP) {
                fd.set("struct", describe(f.schema()));
            }
            fields.add(fd);
        }
        return n;
    }

    private static void describeInto(ObjectNode n, StateStruct s) {
        Schema schema = s.schema();
        n.put("schema", schema.name());
        ArrayNode fields = n.putArray("fields");
        for (int i = 0; i < schema.fields().size(); i++) {
            Field f = schema.fields().get(i);
            ObjectNode fd = fieldHead(f);
            switch (f.kind()) {
                case STRUCT:
                    fd.set("struct", describe((StateStruct) s.rawValue(i)));
                    break;
                case GROUP:
                    fd.set("struct", describe(f.schema()));
                    break;
                case VARRAY:
                    fd.put("length_field", f.lengthField());
                    ArrayNode elements = fd.putArray("elements");
                    Set<String> seen = new HashSet<>();
                    for (Object e : (List<?>) s.rawValue(i)) {
                        StateStruct es = (StateStruct) e;
                        if (seen.add(es.schema().name() + "\u0000" + es.schema().version())) {
                            elements.add(describe(es));
                        }
                    }
                    break;
                default:
                    break;
            }
            fields.add(fd);
        }
        ArrayNode subs = n.putArray("subsections");
        for (int i = 0; i < schema.subsections().size(); i++) {
            StateStruct sub = s.rawSubsection(i);
            if (sub != null && schema.subsections().get(i).needed().test(s)) {
                subs.add(describe(sub));
            }
        }
    }

    private static ObjectNode fieldHead(Field f) {
        ObjectNode fd = NODES.objectNode();
        fd.put("name", f.name());
        fd.put("type", f.kind().typeName());
        if (f.since() > 1) {
            fd.put("since", f.since());
        }
        if (f.kind() == Field.Kind.BYTES) {
            fd.put("min", f.minLength());
            fd.put("max", f.maxLength());
        }
        return fd;
    }
}
