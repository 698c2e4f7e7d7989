package dev.livetap.actors.guest;

import java.nio.ByteBuffer;

/**
 * A second, differently written RFC 1071 check for tests: sums big-endian shorts read through a
 * ByteBuffer with end-around carry after every addition, so a bug in InternetChecksum cannot
 * hide behind the same bug here.
 */
final class IndependentChecksum {
    private IndependentChecksum() {
    }

    /** True when the region, including its checksum field, sums to 0xFFFF. */
    static boolean verifies(byte[] data, int offset, int length) {
        byte[] even = new byte[length + (length & 1)];
        System.arraycopy(data, offset, even, 0, length);
        ByteBuffer buf = ByteBuffer.wrap(even);
        int sum = 0;
        while (buf.hasRemaining()) {
            sum += Short.toUnsignedInt(buf.getShort());
            if (sum > 0xFFFF) {
                sum = sum - 0x10000 + 1;
            }
        }
        return sum == 0xFFFF;
    }
}
