package dev.livetap.codec;

import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.fasterxml.jackson.dataformat.cbor.CBORParser;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Loads a stream one frame at a time, without any I/O: header first, then sections, the end
 * marker and the trailing description. Every frame's checksum ({@link FrameChecksum}) is verified
 * before anything of the frame is parsed; a mismatch is {@link StreamFormatException.Reason#CORRUPT}.
 * {@link #accept} takes ownership of the frame's fds: a
 * loaded section owns them from then on, and on any error they are closed before the
 * {@link StreamFormatException} is thrown. After an error the decoder is failed and closes the
 * fds of every further frame. Not thread-safe.
 */
public final class StreamDecoder {
    /** Where the decoder is in the stream. */
    public enum State { EXPECT_HEADER, SECTIONS, EXPECT_DESCRIPTION, COMPLETE, FAILED }

    /**
     * The oldest stream format version this decoder loads: the one before {@link StreamEncoder#FORMAT_VERSION}
     * (the compatibility policy: a build loads its own format and the previous one, docs/stream-format.md).
     * Version 1 frames carry no checksum.
     */
    public static final int MIN_FORMAT_VERSION = 1;
    /** The first format version whose frames end with a CRC-32C. */
    static final int FIRST_CHECKSUMMED_FORMAT_VERSION = 2;

    private static final CBORFactory DEFAULT_FACTORY = Wire.readFactory(DecoderLimits.DEFAULT);
    private static final ObjectMapper DEFAULT_TREES = Wire.treeMapper(DEFAULT_FACTORY);

    private final SectionResolver resolver;
    private final DecoderLimits limits;
    private final CBORFactory factory;
    private final ObjectMapper trees;
    private final Set<String> loaded = new HashSet<>();
    private final List<Loaded> index = new ArrayList<>();
    /** The section being decoded, for messages about bad CBOR. */
    private String current;
    private State state = State.EXPECT_HEADER;
    /** Frames fed so far, the current one included: the header is frame 1. */
    private int frames;
    private StreamHeader header;
    /** Checksum bytes at the end of each frame: set by the header's format version (none for format 1). */
    private int trailer = Wire.TRAILER_BYTES;
    private JsonNode description;

    public StreamDecoder(SectionResolver resolver) {
        this(resolver, DecoderLimits.DEFAULT);
    }

    public StreamDecoder(SectionResolver resolver, DecoderLimits limits) {
        this.resolver = Objects.requireNonNull(resolver, "resolver");
        this.limits = Objects.requireNonNull(limits, "limits");
        // building a factory and mapper costs more than decoding a small stream: share the default ones
        boolean dflt = limits.equals(DecoderLimits.DEFAULT);
        this.factory = dflt ? DEFAULT_FACTORY : Wire.readFactory(limits);
        this.trees = dflt ? DEFAULT_TREES : Wire.treeMapper(factory);
    }

    /**
     * Feeds one frame, taking ownership of its fds.
     *
     * @return the loaded section (after its post_load hooks succeeded) for a section frame, else null
     * @throws StreamFormatException on anything this side cannot load; the frame's fds are closed then
     */
    public Section accept(Frame frame) {
        Objects.requireNonNull(frame, "frame");
        current = null;
        frames++;
        if (state == State.FAILED) {
            frame.close();
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "decoder has already failed");
        }
        try {
            return decode(frame);
        } catch (StreamFormatException e) {
            fail(frame);
            throw e;
        } catch (IOException e) {
            fail(frame);
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, current, null,
                    "bad CBOR: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            // a decoder bug must still not leak the peer's fds
            fail(frame);
            throw e;
        }
    }

    /**
     * Declares the end of input; fails unless the end marker and the description were received.
     * The decoder closes nothing here: every fd it accepted is either in a returned section or closed.
     */
    public void finish() {
        if (state == State.COMPLETE) {
            return;
        }
        State was = state;
        state = State.FAILED;
        if (was == State.FAILED) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "decoder has already failed");
        }
        throw new StreamFormatException(StreamFormatException.Reason.TRUNCATED,
                was == State.EXPECT_DESCRIPTION ? "stream ended after the end marker, before the description"
                        : was == State.EXPECT_HEADER ? "stream ended before the header"
                        : "stream ended before the end marker (" + index.size() + " sections loaded)");
    }

    public State state() {
        return state;
    }

    public boolean isComplete() {
        return state == State.COMPLETE;
    }

    /** The header, once received. */
    public StreamHeader header() {
        return header;
    }

    /** The trailing description, once received (a tree shaped like QEMU's vmdesc JSON). */
    public JsonNode description() {
        return description;
    }

    /** Sections loaded so far. */
    public int sectionCount() {
        return index.size();
    }

    private void fail(Frame frame) {
        state = State.FAILED;
        frame.close();
    }

    private Section decode(Frame frame) throws IOException {
        byte[] b = frame.payload();
        if (b.length > limits.maxFramePayloadBytes()) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "frame of " + b.length
                    + " bytes exceeds the limit of " + limits.maxFramePayloadBytes());
        }
        if (state == State.EXPECT_HEADER) {
            readHeader(b, frame.fds());
            state = State.SECTIONS;
            return null;
        }
        if (state == State.COMPLETE) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED,
                    "trailing frame of " + b.length + " bytes after the stream description");
        }
        if (trailer > 0) {
            verifyChecksum(b, 1);
        } else if (b.length < 1) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "frame " + frames + " (" + phase(b)
                    + ") is empty: too short for its kind byte");
        }
        int kind = b[0] & 0xFF;
        if (state == State.SECTIONS && kind == Wire.KIND_SECTION) {
            return readSection(b, frame.fds());
        }
        if (state == State.SECTIONS && kind == Wire.KIND_END) {
            readEnd(b, frame.fds());
            state = State.EXPECT_DESCRIPTION;
            return null;
        }
        if (state == State.EXPECT_DESCRIPTION && kind == Wire.KIND_VMDESC) {
            readDescription(b, frame.fds());
            state = State.COMPLETE;
            return null;
        }
        throw new StreamFormatException(StreamFormatException.Reason.MALFORMED,
                "unexpected frame kind 0x" + Integer.toHexString(kind) + " in state " + state);
    }

    private void readHeader(byte[] b, List<OwnedFd> fds) throws IOException {
        if (b.length < Wire.HEADER_FIXED_BYTES || b[0] != Wire.MAGIC[0] || b[1] != Wire.MAGIC[1]
                || b[2] != Wire.MAGIC[2] || b[3] != Wire.MAGIC[3]) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED,
                    "bad magic: not a livetap migration stream (expected \"LTMS\")");
        }
        // magic and version come before the checksum: whether and where a frame carries one depends on the version
        long version = ByteBuffer.wrap(b, 4, 4).getInt() & 0xFFFF_FFFFL;
        if (version > StreamEncoder.FORMAT_VERSION || version < MIN_FORMAT_VERSION) {
            throw new StreamFormatException(StreamFormatException.Reason.VERSION, "stream format version " + version
                    + " is not loadable here: this side supports " + MIN_FORMAT_VERSION + ".." + StreamEncoder.FORMAT_VERSION
                    + (version > StreamEncoder.FORMAT_VERSION ? " (the sender is newer)"
                    : " (the sender is older)"));
        }
        trailer = version >= FIRST_CHECKSUMMED_FORMAT_VERSION ? Wire.TRAILER_BYTES : 0;
        if (trailer > 0) {
            verifyChecksum(b, Wire.HEADER_FIXED_BYTES + 1);
        }
        noFds(fds, "header");
        try (CBORParser p = factory.createParser(b, Wire.HEADER_FIXED_BYTES,
                b.length - Wire.HEADER_FIXED_BYTES - trailer)) {
            StructReader r = new StructReader(p, fds, "header");
            FieldPath root = FieldPath.ROOT;
            r.expect(JsonToken.START_OBJECT, root, "header map");
            key(r, p, "pid");
            long pid = r.uint(root.child("pid"), "pid", 0xFFFF_FFFFL);
            key(r, p, "process");
            String process = r.text(root.child("process"), "process name");
            key(r, p, "machine");
            String machine = r.text(root.child("machine"), "machine type");
            r.expect(JsonToken.END_OBJECT, root, "end of header map");
            endOfPayload(p, "header");
            header = new StreamHeader((int) version, pid, process, machine);
        }
    }

    private Section readSection(byte[] b, List<OwnedFd> fds) throws IOException {
        if (index.size() >= limits.maxSections()) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED,
                    "more than " + limits.maxSections() + " sections");
        }
        Section section;
        StructReader r;
        try (CBORParser p = factory.createParser(b, 1, b.length - 1 - trailer)) {
            r = new StructReader(p, fds, "#" + (index.size() + 1));
            FieldPath root = FieldPath.ROOT;
            r.expect(JsonToken.START_ARRAY, root, "section array");
            long id = r.uint(root, "section id", 0xFFFF_FFFFL);
            if (id != index.size() + 1) {
                throw r.fail(root, "section id " + id + " out of sequence, expected " + (index.size() + 1));
            }
            String name = r.text(root, "section name");
            long instance = r.uint(root, "instance id", Integer.MAX_VALUE);
            String label = "'" + name + "' instance " + instance;
            current = label;
            r = new StructReader(p, fds, label);
            int version = r.version(root);
            Schema schema = resolver.resolve(name, (int) instance);
            if (schema == null) {
                throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, label, null,
                        "unknown section: no such device here", null);
            }
            if (!loaded.add(name + "\u0000" + instance)) {
                throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, label, null,
                        "section appears twice", null);
            }
            r.checkVersion(schema, version, root);
            StateStruct s = r.readBody(schema, version, root, 0);
            r.expect(JsonToken.END_ARRAY, root, "end of section array");
            endOfPayload(p, label);
            if (r.usedSlots() != fds.size()) {
                throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, label, null,
                        "frame carries " + fds.size() + " fds but the section references " + r.usedSlots(), null);
            }
            section = new Section(name, (int) instance, version, s);
        }
        // post_load only on a fully verified frame, children before parents (as QEMU completes nested loads)
        for (StateStruct s : r.postLoads) {
            try {
                s.schema().postLoad().run(s);
            } catch (Exception e) {
                throw new StreamFormatException(StreamFormatException.Reason.HOOK_FAILED, "'" + section.name()
                        + "' instance " + section.instanceId(), null,
                        "post_load of " + s.schema().name() + " failed: " + e.getMessage(), e);
            }
        }
        index.add(new Loaded(section.name(), section.instanceId(), section.version()));
        current = null;
        return section;
    }

    private void readEnd(byte[] b, List<OwnedFd> fds) throws IOException {
        noFds(fds, "end marker");
        try (CBORParser p = factory.createParser(b, 1, b.length - 1 - trailer)) {
            StructReader r = new StructReader(p, fds, "end marker");
            r.expect(JsonToken.START_ARRAY, FieldPath.ROOT, "end marker array");
            long n = r.uint(FieldPath.ROOT, "section count", 0xFFFF_FFFFL);
            r.expect(JsonToken.END_ARRAY, FieldPath.ROOT, "end of end marker");
            endOfPayload(p, "end marker");
            if (n != index.size()) {
                throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "end marker counts " + n
                        + " sections but " + index.size() + " were received");
            }
        }
    }

    private void readDescription(byte[] b, List<OwnedFd> fds) throws IOException {
        noFds(fds, "description");
        JsonNode d = trees.readTree(b, 1, b.length - 1 - trailer);
        if (d == null || !d.isObject() || !d.path("format").isIntegralNumber()
                || d.path("format").asLong() != header.formatVersion() || !d.path("sections").isArray()) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED,
                    "description is not a map with format " + header.formatVersion() + " and a sections array");
        }
        JsonNode secs = d.get("sections");
        if (secs.size() != index.size()) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "description lists " + secs.size()
                    + " sections but " + index.size() + " were received");
        }
        for (int i = 0; i < secs.size(); i++) {
            JsonNode s = secs.get(i);
            Loaded got = index.get(i);
            if (s.path("section_id").asLong(-1) != i + 1 || !s.path("name").isTextual()
                    || !got.name().equals(s.path("name").asText()) || s.path("instance_id").asLong(-1) != got.instanceId()
                    || s.path("version").asLong(-1) != got.version()) {
                throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "description entry " + (i + 1)
                        + " does not match section '" + got.name() + "' instance " + got.instanceId() + " version "
                        + got.version() + " as received");
            }
        }
        description = d;
    }

    /**
     * Checks the frame's CRC-32C trailer before anything of it is parsed: a frame too short to hold
     * {@code minBody} bytes and the trailer is MALFORMED, a mismatch is CORRUPT.
     */
    private void verifyChecksum(byte[] b, int minBody) {
        if (b.length < minBody + Wire.TRAILER_BYTES) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "frame " + frames + " (" + phase(b)
                    + ") has " + b.length + " bytes: too short for its content and its " + Wire.TRAILER_BYTES
                    + "-byte checksum");
        }
        int carried = FrameChecksum.stored(b);
        int computed = FrameChecksum.compute(b, 0, b.length - Wire.TRAILER_BYTES);
        if (carried != computed) {
            throw new StreamFormatException(StreamFormatException.Reason.CORRUPT, "checksum mismatch in frame " + frames
                    + " (" + phase(b) + "): the CRC-32C of its " + (b.length - Wire.TRAILER_BYTES) + " bytes is "
                    + FrameChecksum.hex(computed) + " but the frame carries " + FrameChecksum.hex(carried)
                    + "; the frame was corrupted on the way and nothing of it was loaded");
        }
    }

    /** Which frame the decoder expects now; in the section phase going by the (not yet verified) kind byte. */
    private String phase(byte[] b) {
        String section = "device section #" + (index.size() + 1);
        return switch (state) {
            case EXPECT_HEADER -> "header";
            case SECTIONS -> b.length > 0 && (b[0] & 0xFF) == Wire.KIND_SECTION ? "presumably " + section
                    : b.length > 0 && (b[0] & 0xFF) == Wire.KIND_END ? "presumably the end marker"
                    : section + " or the end marker";
            case EXPECT_DESCRIPTION -> "description";
            default -> state.name().toLowerCase(java.util.Locale.ROOT);
        };
    }

    private static void key(StructReader r, CBORParser p, String name) throws IOException {
        JsonToken t = r.next();
        if (t != JsonToken.FIELD_NAME || !name.equals(p.currentName())) {
            throw r.fail(FieldPath.ROOT, "expected header key " + name);
        }
    }

    private static void endOfPayload(CBORParser p, String what) throws IOException {
        if (p.nextToken() != null) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED, "trailing bytes after the " + what);
        }
    }

    private static void noFds(List<OwnedFd> fds, String what) {
        if (!fds.isEmpty()) {
            throw new StreamFormatException(StreamFormatException.Reason.MALFORMED,
                    "the " + what + " frame carries " + fds.size() + " fds but may carry none");
        }
    }

    private record Loaded(String name, int instanceId, int version) {
    }
}
