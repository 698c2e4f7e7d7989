package dev.livetap.actors.guest;

import java.util.List;

/**
 * {@code struct virtio_net_hdr} (10 bytes) or {@code virtio_net_hdr_mrg_rxbuf} (12 bytes, with
 * {@code num_buffers}), which starts every frame on a TAP queue opened with IFF_VNET_HDR.
 * Multi-byte fields are little-endian (the TAP's default vnet endianness on x86).
 */
public record VirtioNetHdr(int flags, int gsoType, int hdrLen, int gsoSize, int csumStart, int csumOffset,
        int numBuffers) {
    /** VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is partial and must be completed. */
    public static final int F_NEEDS_CSUM = 1;
    /** VIRTIO_NET_HDR_F_DATA_VALID. */
    public static final int F_DATA_VALID = 2;
    public static final int GSO_NONE = 0;
    /** Header lengths a TAP queue can use: none, the plain header, the header with num_buffers. */
    public static final List<Integer> LENGTHS = List.of(0, 10, 12);
    public static final VirtioNetHdr ZERO = new VirtioNetHdr(0, 0, 0, 0, 0, 0, 0);

    /** Throws unless {@code length} is 0, 10 or 12. */
    public static int requireLength(int length) {
        if (!LENGTHS.contains(length)) {
            throw new IllegalArgumentException("vnet header length must be 0, 10 or 12; got " + length);
        }
        return length;
    }

    /** Reads a header of {@code length} (10 or 12) bytes at {@code offset}. */
    public static VirtioNetHdr read(byte[] b, int offset, int length) {
        return new VirtioNetHdr(b[offset] & 0xFF, b[offset + 1] & 0xFF, le16(b, offset + 2), le16(b, offset + 4),
                le16(b, offset + 6), le16(b, offset + 8), length >= 12 ? le16(b, offset + 10) : 0);
    }

    /** Writes this header as {@code length} bytes (10 or 12) at {@code offset}. */
    public void writeTo(byte[] b, int offset, int length) {
        b[offset] = (byte) flags;
        b[offset + 1] = (byte) gsoType;
        putLe16(b, offset + 2, hdrLen);
        putLe16(b, offset + 4, gsoSize);
        putLe16(b, offset + 6, csumStart);
        putLe16(b, offset + 8, csumOffset);
        if (length >= 12) {
            putLe16(b, offset + 10, numBuffers);
        }
    }

    public boolean needsChecksum() {
        return (flags & F_NEEDS_CSUM) != 0;
    }

    private static int le16(byte[] b, int at) {
        return (b[at] & 0xFF) | ((b[at + 1] & 0xFF) << 8);
    }

    private static void putLe16(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
    }
}
