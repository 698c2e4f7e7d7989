package dev.livetap.actors.migration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import dev.livetap.nativeio.Frame;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The return path (design decision 3): the target's answer on the same socket, one frame without
 * fds. Payload: the kind byte {@code 0x20}, then a CBOR map {@code {"kind": "loaded"}},
 * {@code {"kind": "completed"}} (the source's confirmation; {@code "run-state": "paused"} added for a paused source) or {@code {"kind": "failed", "reason": TEXT}}
 * (either side; documented in docs/architecture.md). The codec's
 * own frame kinds are 0x00, 0x04 and 0x06, so a return-path frame is never mistaken for stream data.
 */
public final class ReturnPath {
    public static final int KIND_RETURN_PATH = 0x20;
    /** Reasons longer than this are cut (a peer cannot make us hold megabytes). */
    public static final int REASON_MAX_CHARS = 4096;

    private static final CBORFactory FACTORY = new CBORFactory();
    private static final ObjectMapper CBOR = new ObjectMapper(FACTORY);

    /** What the peer said: the target's {@code loaded} or {@code failed}, the source's {@code completed} or {@code failed}. */
    public sealed interface Answer permits Loaded, Failed, Completed {
    }

    public record Loaded() implements Answer {
    }

    public record Failed(String reason) implements Answer {
    }

    /**
     * The source's confirmation that it received {@code loaded} and released the TAP: only now does
     * the target start reading by itself, so a source that gave up on a late or damaged
     * {@code loaded} (and says {@code failed}) never leaves two readers of one queue.
     * {@code sourceRunning}: the source's VM was running when it stopped for the switch-over (QEMU's
     * global_state: the run state travels; a paused source gives a paused target). On the wire
     * {@code "run-state": "paused"} when false; absent means running.
     */
    public record Completed(boolean sourceRunning) implements Answer {
        public Completed() {
            this(true);
        }
    }

    private ReturnPath() {
    }

    public static byte[] loaded() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", "loaded");
        return encode(m);
    }

    public static byte[] completed() {
        return completed(true);
    }

    /** {@code completed}, saying whether the source's VM was running (the run state travels). */
    public static byte[] completed(boolean sourceRunning) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", "completed");
        if (!sourceRunning) {
            m.put("run-state", "paused");
        }
        return encode(m);
    }

    public static byte[] failed(String reason) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", "failed");
        m.put("reason", reason.length() > REASON_MAX_CHARS ? reason.substring(0, REASON_MAX_CHARS) : reason);
        return encode(m);
    }

    /** Definite-length CBOR (RFC 8949 preferred serialization): a map of text keys to text values. */
    private static byte[] encode(Map<String, Object> m) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(32);
        out.write(KIND_RETURN_PATH);
        try (com.fasterxml.jackson.dataformat.cbor.CBORGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartObject(null, m.size());
            for (Map.Entry<String, Object> e : m.entrySet()) {
                g.writeFieldName(e.getKey());
                g.writeString(String.valueOf(e.getValue()));
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Whether {@code frame} is a return-path frame by its kind byte (not yet checked further: see {@link #decode}). */
    public static boolean isAnswer(Frame frame) {
        byte[] b = frame.payload();
        return b.length > 0 && (b[0] & 0xFF) == KIND_RETURN_PATH;
    }

    /**
     * Decodes a return-path frame; closes any fds it carried (it may carry none).
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static Answer decode(Frame frame) {
        try (frame) {
            if (!frame.fds().isEmpty()) {
                throw new IllegalArgumentException("return-path frame carries " + frame.fds().size() + " fds but may carry none");
            }
            byte[] b = frame.payload();
            if (b.length < 2 || (b[0] & 0xFF) != KIND_RETURN_PATH) {
                throw new IllegalArgumentException("not a return-path frame (kind byte "
                        + (b.length == 0 ? "missing" : String.format("0x%02x", b[0] & 0xFF)) + ", expected 0x20)");
            }
            if (b.length > 2 * REASON_MAX_CHARS + 64) {
                throw new IllegalArgumentException("return-path frame of " + b.length + " bytes is too long");
            }
            JsonNode n;
            try {
                n = CBOR.readTree(Arrays.copyOfRange(b, 1, b.length));
            } catch (IOException e) {
                throw new IllegalArgumentException("return-path frame is not CBOR: " + e.getMessage());
            }
            if (n == null || !n.isObject() || !n.path("kind").isTextual()) {
                throw new IllegalArgumentException("return-path frame is not a map with a text 'kind'");
            }
            switch (n.get("kind").asText()) {
                case "loaded":
                    if (n.size() != 1) {
                        throw new IllegalArgumentException("return-path 'loaded' has extra keys");
                    }
                    return new Loaded();
                case "completed":
                    boolean paused = n.path("run-state").asText("running").equals("paused");
                    if (n.size() != (n.has("run-state") ? 2 : 1) || n.has("run-state") && !paused) {
                        throw new IllegalArgumentException("return-path 'completed' has extra keys");
                    }
                    return new Completed(!paused);
                case "failed":
                    if (!n.path("reason").isTextual() || n.size() != 2) {
                        throw new IllegalArgumentException("return-path 'failed' needs exactly a text 'reason'");
                    }
                    return new Failed(n.get("reason").asText());
                default:
                    throw new IllegalArgumentException("unknown return-path kind '" + n.get("kind").asText() + "'");
            }
        }
    }
}
