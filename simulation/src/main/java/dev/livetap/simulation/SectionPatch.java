package dev.livetap.simulation;

import dev.livetap.codec.FrameChecksum;

/**
 * Byte-level edits of a section frame for the fault catalogue (docs/stream-format.md: kind 0x04,
 * then CBOR array(6) [section_id, name, instance_id, version_id, fields, subsections], then the
 * CRC-32C trailer): bump the version_id, or change one character of the name. Works on the bytes,
 * so fd tags and slots stay exactly as the encoder wrote them, and reseals the frame's checksum:
 * these faults model a source that <em>sends</em> another version or name, not damage on the way
 * (that is corrupted_bytes), so the target must refuse them for what they say.
 */
final class SectionPatch {
    private SectionPatch() {
    }

    /** @return the patched and resealed copy, or null when the frame is not a section frame this patch understands */
    static byte[] patch(byte[] payload, boolean version) {
        if (payload.length < 8 + FrameChecksum.BYTES || payload[0] != 0x04 || (payload[1] & 0xFF) != 0x86) {
            return null;
        }
        byte[] b = patchBody(FrameChecksum.body(payload), version);
        return b == null ? null : FrameChecksum.seal(b);
    }

    private static byte[] patchBody(byte[] b, boolean version) {
        int at = skipUint(b, 2);
        if (at < 0 || ((b[at] & 0xFF) >> 5) != 3) {
            return null;
        }
        int info = b[at] & 0x1F;
        int len;
        int start;
        if (info < 24) {
            len = info;
            start = at + 1;
        } else if (info == 24) {
            len = b[at + 1] & 0xFF;
            start = at + 2;
        } else if (info == 25) {
            len = ((b[at + 1] & 0xFF) << 8) | (b[at + 2] & 0xFF);
            start = at + 3;
        } else {
            return null;
        }
        if (!version) {
            if (len == 0) {
                return null;
            }
            b[start] = (byte) (b[start] == 'X' ? 'Y' : 'X');
            return b;
        }
        int v = skipUint(b, start + len);
        if (v < 0 || v >= b.length || (b[v] & 0xFF) >= 23) {
            return null;
        }
        b[v] = (byte) (b[v] + 1);
        return b;
    }

    /** Offset after the CBOR unsigned integer at {@code at}, or -1. */
    private static int skipUint(byte[] b, int at) {
        if (at >= b.length || ((b[at] & 0xFF) >> 5) != 0) {
            return -1;
        }
        int info = b[at] & 0x1F;
        return info < 24 ? at + 1 : info == 24 ? at + 2 : info == 25 ? at + 3 : info == 26 ? at + 5 : info == 27 ? at + 9 : -1;
    }
}
