package dev.livetap.codec;

import java.util.zip.CRC32C;

/**
 * The integrity check of every migration stream frame (format version 2, docs/stream-format.md):
 * the last {@value #BYTES} bytes of a frame's payload are the CRC-32C (Castagnoli, as
 * {@link CRC32C}, the iSCSI/ext4 checksum) of all payload bytes before them, big-endian.
 * {@link StreamEncoder} seals every frame it writes; {@link StreamDecoder} verifies it before it
 * parses anything of the frame.
 * <p>
 * This detects corruption (any burst of up to 32 flipped bits, every odd number of flipped bits,
 * other damage with probability 1 − 2<sup>−32</sup>), not tampering: anyone who can write the
 * stream can compute a CRC. The public helpers are for tools that forge frames on purpose (fault
 * injection, tests) and must still pass the check.
 */
public final class FrameChecksum {
    /** Bytes of the checksum trailer at the end of every frame payload. */
    public static final int BYTES = 4;

    private FrameChecksum() {
    }

    /** The CRC-32C of {@code len} bytes of {@code b} from {@code off}. */
    public static int compute(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    /** {@code body} followed by its checksum: a frame payload as the encoder writes it. */
    public static byte[] seal(byte[] body) {
        byte[] out = java.util.Arrays.copyOf(body, body.length + BYTES);
        put(out, body.length, compute(body, 0, body.length));
        return out;
    }

    /**
     * A copy of {@code payload} whose trailer is recomputed over the bytes before it: for a frame
     * whose body was edited in place on purpose (fault injection, tests).
     *
     * @throws IllegalArgumentException if the payload is too short to hold a trailer
     */
    public static byte[] reseal(byte[] payload) {
        if (payload.length < BYTES) {
            throw new IllegalArgumentException("a payload of " + payload.length + " bytes has no checksum trailer");
        }
        byte[] out = payload.clone();
        put(out, out.length - BYTES, compute(out, 0, out.length - BYTES));
        return out;
    }

    /** The payload without its trailer (no check). */
    public static byte[] body(byte[] payload) {
        if (payload.length < BYTES) {
            throw new IllegalArgumentException("a payload of " + payload.length + " bytes has no checksum trailer");
        }
        return java.util.Arrays.copyOf(payload, payload.length - BYTES);
    }

    /** Whether the payload ends with the checksum of the bytes before it. */
    public static boolean matches(byte[] payload) {
        return payload.length >= BYTES && stored(payload) == compute(payload, 0, payload.length - BYTES);
    }

    /** The checksum the payload's trailer carries (the payload must hold at least {@value #BYTES} bytes). */
    static int stored(byte[] payload) {
        int at = payload.length - BYTES;
        return ((payload[at] & 0xFF) << 24) | ((payload[at + 1] & 0xFF) << 16) | ((payload[at + 2] & 0xFF) << 8)
                | (payload[at + 3] & 0xFF);
    }

    static void put(byte[] b, int at, int crc) {
        b[at] = (byte) (crc >>> 24);
        b[at + 1] = (byte) (crc >>> 16);
        b[at + 2] = (byte) (crc >>> 8);
        b[at + 3] = (byte) crc;
    }

    static String hex(int crc) {
        return String.format("0x%08x", crc);
    }
}
