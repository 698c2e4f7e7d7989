package dev.livetap.actors.guest;

/** The Internet checksum of RFC 1071 (IPv4 header, ICMP): ones' complement of the ones' complement sum of 16-bit words. */
public final class InternetChecksum {
    private InternetChecksum() {
    }

    /** The checksum of {@code length} bytes from {@code offset}; an odd last byte is padded with zero. */
    public static int compute(byte[] data, int offset, int length) {
        long sum = 0;
        int i = offset;
        int end = offset + length;
        for (; i + 1 < end; i += 2) {
            sum += ((data[i] & 0xFF) << 8) | (data[i + 1] & 0xFF);
        }
        if (i < end) {
            sum += (data[i] & 0xFF) << 8;
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return (int) (~sum & 0xFFFF);
    }

    /** True when the data, checksum field included, sums to all ones (the checksum verifies). */
    public static boolean verifies(byte[] data, int offset, int length) {
        return compute(data, offset, length) == 0;
    }
}
