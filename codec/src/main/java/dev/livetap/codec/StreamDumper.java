package dev.livetap.codec;

import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.cbor.CBORParser;
import dev.livetap.codec.StreamRecording.RecordedFrame;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Prints a recorded stream ({@link StreamRecording}) readably or as JSON without needing any
 * device schema: header, sections with their fields, versions and fd slots, end marker and the
 * trailing description. Backs {@code livetap stream dump FILE [--json]}. Format 2 frames have their
 * checksum verified (a mismatch stops the dump as malformed, naming the frame); format 1 recordings,
 * which the decoder no longer loads, are still shown (they have no checksums).
 */
public final class StreamDumper {
    /** Exit status: the stream was printed in full. */
    public static final int OK = 0;
    /** Exit status: the recording is readable but the stream in it is malformed (printed up to the fault). */
    public static final int MALFORMED = 1;
    /** Exit status: the file could not be read as a recording. */
    public static final int UNREADABLE = 2;

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final CBORFactory CBOR = Wire.readFactory(DecoderLimits.DEFAULT);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper CBOR_TREES = Wire.treeMapper(CBOR);

    private StreamDumper() {
    }

    /** Dumps {@code file} to {@code out}; returns {@link #OK}, {@link #MALFORMED} or {@link #UNREADABLE}. */
    public static int dump(Path file, boolean json, PrintStream out) {
        List<RecordedFrame> frames;
        try {
            frames = StreamRecording.read(file);
        } catch (IOException e) {
            out.println("cannot read " + file + ": " + e.getMessage());
            return UNREADABLE;
        }
        ObjectNode root = NODES.objectNode();
        root.put("file", file.toString());
        root.put("frames", frames.size());
        int status = OK;
        try {
            toTree(frames, root);
        } catch (IOException | StreamFormatException e) {
            root.put("error", e.getMessage());
            status = MALFORMED;
        }
        if (json) {
            try {
                out.println(JSON.writeValueAsString(root));
            } catch (IOException e) {
                throw new IllegalStateException("a JSON tree always serializes", e);
            }
        } else {
            printText(root, out);
        }
        return status;
    }

    /**
     * Decodes the frames into a schema-less tree; throws at the first fault, leaving what was read in
     * {@code root}. Frames are numbered from 1 (the header), as the decoder's messages number them.
     */
    static void toTree(List<RecordedFrame> frames, ObjectNode root) throws IOException {
        ArrayNode sections = root.putArray("sections");
        int i = 0;
        int trailer = 0;
        for (RecordedFrame f : frames) {
            i++;
            byte[] b = f.payload();
            if (i == 1) {
                if (b.length < Wire.HEADER_FIXED_BYTES || b[0] != 'L' || b[1] != 'T' || b[2] != 'M' || b[3] != 'S') {
                    throw bad("bad magic: not a livetap migration stream");
                }
                long version = ByteBuffer.wrap(b, 4, 4).getInt() & 0xFFFF_FFFFL;
                trailer = version >= 2 ? Wire.TRAILER_BYTES : 0;
                root.put("checksums", trailer == 0 ? "none (format " + version + ")" : "CRC-32C per frame");
                verify(b, i, trailer, Wire.HEADER_FIXED_BYTES + 1, "header");
                root.set("header", header(b, version, trailer));
                continue;
            }
            verify(b, i, trailer, 1, "frame");
            int len = b.length - trailer;
            if ((b[0] & 0xFF) == Wire.KIND_SECTION) {
                sections.add(section(b, len, f.fdCount()));
            } else if ((b[0] & 0xFF) == Wire.KIND_END) {
                try (CBORParser p = CBOR.createParser(b, 1, len - 1)) {
                    ObjectNode end = NODES.objectNode();
                    JsonNode arr = CBOR_TREES.readTree(p);
                    end.put("sections", arr.path(0).asLong(-1));
                    root.set("end", end);
                }
            } else if ((b[0] & 0xFF) == Wire.KIND_VMDESC) {
                root.set("description", CBOR_TREES.readTree(b, 1, len - 1));
            } else {
                throw bad("frame " + i + " has unknown kind 0x" + Integer.toHexString(b[0] & 0xFF));
            }
        }
        if (!root.has("end") || !root.has("description")) {
            throw bad("the recording ends before the end marker and description");
        }
    }

    /** Checks a frame's checksum trailer, if the format has one ({@code trailer} > 0). */
    private static void verify(byte[] b, int frame, int trailer, int minBody, String what) {
        if (b.length < minBody + trailer) {
            throw bad("frame " + frame + " (" + what + ") has " + b.length + " bytes: too short"
                    + (trailer > 0 ? " for its content and its checksum" : ""));
        }
        if (trailer > 0 && !FrameChecksum.matches(b)) {
            throw new StreamFormatException(StreamFormatException.Reason.CORRUPT, "checksum mismatch in frame " + frame
                    + " (" + (frame == 1 ? "header" : kindName(b[0])) + "): the CRC-32C of its " + (b.length - trailer)
                    + " bytes is " + FrameChecksum.hex(FrameChecksum.compute(b, 0, b.length - trailer))
                    + " but the frame carries " + FrameChecksum.hex(FrameChecksum.stored(b)));
        }
    }

    private static String kindName(byte kind) {
        return switch (kind & 0xFF) {
            case Wire.KIND_SECTION -> "presumably a section";
            case Wire.KIND_END -> "presumably the end marker";
            case Wire.KIND_VMDESC -> "presumably the description";
            default -> "kind 0x" + Integer.toHexString(kind & 0xFF);
        };
    }

    private static ObjectNode header(byte[] b, long version, int trailer) throws IOException {
        ObjectNode h = NODES.objectNode();
        h.put("format_version", version);
        JsonNode m = CBOR_TREES.readTree(b, Wire.HEADER_FIXED_BYTES, b.length - Wire.HEADER_FIXED_BYTES - trailer);
        h.set("pid", m.path("pid"));
        h.set("process", m.path("process"));
        h.set("machine", m.path("machine"));
        return h;
    }

    private static ObjectNode section(byte[] b, int len, int fdCount) throws IOException {
        ObjectNode s = NODES.objectNode();
        try (CBORParser p = CBOR.createParser(b, 1, len - 1)) {
            expect(p, JsonToken.START_ARRAY);
            s.put("section_id", number(p));
            s.put("name", text(p));
            s.put("instance_id", number(p));
            s.put("version", number(p));
            s.put("fds", fdCount);
            s.put("payload_bytes", b.length);
            int[] slots = new int[1];
            body(p, s, slots);
            expect(p, JsonToken.END_ARRAY);
            if (slots[0] != fdCount) {
                throw bad("section " + s.get("name").asText() + " references " + slots[0] + " fd slots but its frame had "
                        + fdCount + " fds");
            }
        }
        return s;
    }

    private static void body(CBORParser p, ObjectNode into, int[] slots) throws IOException {
        expect(p, JsonToken.START_OBJECT);
        ObjectNode fields = into.putObject("fields");
        JsonToken t;
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            fields.set(name, value(p, p.nextToken(), slots));
        }
        if (t != JsonToken.END_OBJECT) {
            throw bad("expected end of fields, found " + t);
        }
        expect(p, JsonToken.START_ARRAY);
        ArrayNode subs = into.putArray("subsections");
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.START_ARRAY) {
                throw bad("expected a subsection, found " + t);
            }
            ObjectNode sub = NODES.objectNode();
            sub.put("struct", text(p));
            sub.put("version", number(p));
            body(p, sub, slots);
            expect(p, JsonToken.END_ARRAY);
            subs.add(sub);
        }
    }

    private static JsonNode value(CBORParser p, JsonToken t, int[] slots) throws IOException {
        if (t == null) {
            throw bad("payload ends inside a value");
        }
        switch (t) {
            case VALUE_TRUE: return NODES.booleanNode(true);
            case VALUE_FALSE: return NODES.booleanNode(false);
            case VALUE_NULL: return NODES.nullNode();
            case VALUE_NUMBER_INT:
                if (p.getCurrentTag() == Wire.FD_TAG) {
                    ObjectNode fd = NODES.objectNode();
                    fd.put("fd_slot", p.getLongValue());
                    fd.put("transferable", false);
                    slots[0]++;
                    return fd;
                }
                return NODES.numberNode(p.getBigIntegerValue());
            case VALUE_EMBEDDED_OBJECT: {
                ObjectNode bytes = NODES.objectNode();
                bytes.put("bytes", StateStruct.hex(p.getBinaryValue()));
                return bytes;
            }
            case START_ARRAY: {
                JsonToken first = p.nextToken();
                if (first == JsonToken.VALUE_STRING) {
                    ObjectNode st = NODES.objectNode();
                    st.put("struct", p.getText());
                    st.put("version", number(p));
                    body(p, st, slots);
                    expect(p, JsonToken.END_ARRAY);
                    return st;
                }
                ArrayNode arr = NODES.arrayNode();
                for (JsonToken e = first; e != JsonToken.END_ARRAY; e = p.nextToken()) {
                    arr.add(value(p, e, slots));
                }
                return arr;
            }
            default:
                throw bad("unexpected " + t + " in a field value");
        }
    }

    private static void printText(ObjectNode root, PrintStream out) {
        out.println("stream recording " + root.get("file").asText() + ": " + root.get("frames").asInt() + " frames");
        JsonNode h = root.get("header");
        if (h != null) {
            out.println("header: format version " + h.path("format_version").asText() + ", sender pid "
                    + h.path("pid").asText() + " (" + h.path("process").asText() + "), machine " + h.path("machine").asText()
                    + ", checksums: " + root.path("checksums").asText());
        }
        for (JsonNode s : root.withArray("sections")) {
            out.println("section #" + s.path("section_id").asText() + " '" + s.path("name").asText() + "' instance "
                    + s.path("instance_id").asText() + " version " + s.path("version").asText() + " ("
                    + s.path("payload_bytes").asText() + " bytes, " + s.path("fds").asText() + " fds)");
            printBody(s, "  ", out);
        }
        if (root.has("end")) {
            out.println("end marker: " + root.get("end").path("sections").asText() + " sections");
        }
        if (root.has("description")) {
            out.println("description (vmdesc):");
            for (JsonNode d : root.get("description").withArray("sections")) {
                StringBuilder line = new StringBuilder("  #" + d.path("section_id").asText() + " " + d.path("name").asText()
                        + " v" + d.path("version").asText() + ": " + describeFields(d.path("fields")));
                for (JsonNode sub : d.path("subsections")) {
                    line.append("; subsection ").append(describeStruct(sub));
                }
                out.println(line);
            }
        }
        if (root.has("error")) {
            out.println("MALFORMED: " + root.get("error").asText());
        }
    }

    private static void printBody(JsonNode s, String indent, PrintStream out) {
        for (Map.Entry<String, JsonNode> e : s.path("fields").properties()) {
            printValue(e.getKey(), e.getValue(), indent, out);
        }
        for (JsonNode sub : s.path("subsections")) {
            out.println(indent + "subsection " + sub.path("struct").asText() + " v" + sub.path("version").asText() + ":");
            printBody(sub, indent + "  ", out);
        }
    }

    private static void printValue(String label, JsonNode v, String indent, PrintStream out) {
        if (v.has("fd_slot")) {
            out.println(indent + label + ": fd slot " + v.get("fd_slot").asText() + " (not transferable)");
        } else if (v.has("bytes")) {
            String hex = v.get("bytes").asText();
            out.println(indent + label + ": bytes[" + hex.length() / 2 + "] " + (hex.isEmpty() ? "(empty)" : hex));
        } else if (v.has("struct")) {
            out.println(indent + label + ": " + v.get("struct").asText() + " v" + v.path("version").asText());
            printBody(v, indent + "  ", out);
        } else if (v.isArray()) {
            out.println(indent + label + ": array[" + v.size() + "]");
            for (int i = 0; i < v.size(); i++) {
                printValue("[" + i + "]", v.get(i), indent + "  ", out);
            }
        } else {
            out.println(indent + label + ": " + v.asText());
        }
    }

    private static String describeFields(JsonNode fields) {
        StringBuilder sb = new StringBuilder();
        for (JsonNode f : fields) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append(f.path("name").asText()).append(':').append(f.path("type").asText());
            if (f.has("since")) {
                sb.append('@').append(f.get("since").asText());
            }
            if (f.has("struct")) {
                sb.append(" {").append(describeStruct(f.get("struct"))).append('}');
            }
            for (JsonNode e : f.path("elements")) {
                sb.append(" <").append(describeStruct(e)).append('>');
            }
        }
        return sb.toString();
    }

    private static String describeStruct(JsonNode d) {
        StringBuilder sb = new StringBuilder(d.path("name").asText()).append(" v").append(d.path("version").asText())
                .append(": ").append(describeFields(d.path("fields")));
        for (JsonNode sub : d.path("subsections")) {
            sb.append("; subsection ").append(describeStruct(sub));
        }
        return sb.toString();
    }

    private static void expect(CBORParser p, JsonToken want) throws IOException {
        JsonToken t = p.nextToken();
        if (t != want) {
            throw bad("expected " + want + ", found " + t);
        }
    }

    private static String text(CBORParser p) throws IOException {
        expect(p, JsonToken.VALUE_STRING);
        return p.getText();
    }

    private static long number(CBORParser p) throws IOException {
        expect(p, JsonToken.VALUE_NUMBER_INT);
        return p.getLongValue();
    }

    private static StreamFormatException bad(String detail) {
        return new StreamFormatException(StreamFormatException.Reason.MALFORMED, detail);
    }
}
