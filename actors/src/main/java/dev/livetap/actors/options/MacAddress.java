package dev.livetap.actors.options;

import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;

/** A 48-bit Ethernet address, held as six bytes in transmission order. */
public record MacAddress(long value) {
    /** QEMU's locally administered prefix for guest NICs. */
    public static final long QEMU_OUI = 0x52_54_00L;
    public static final MacAddress BROADCAST = new MacAddress(0xFFFF_FFFF_FFFFL);

    public MacAddress {
        if ((value & ~0xFFFF_FFFF_FFFFL) != 0) {
            throw new IllegalArgumentException("not a 48-bit address: " + Long.toHexString(value));
        }
    }

    /**
     * Parses {@code 52:54:00:12:34:56} (or with '-' as QEMU also accepts).
     *
     * @throws IllegalArgumentException if the text is not six hex pairs
     */
    public static MacAddress parse(String text) {
        if (text == null || text.length() != 17) {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        char sep = text.charAt(2);
        if (sep != ':' && sep != '-') {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        long v = 0;
        for (int i = 0; i < 6; i++) {
            int at = i * 3;
            if (i > 0 && text.charAt(at - 1) != sep) {
                throw new IllegalArgumentException("not a MAC address: " + text);
            }
            int hi = Character.digit(text.charAt(at), 16);
            int lo = Character.digit(text.charAt(at + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("not a MAC address: " + text);
            }
            v = (v << 8) | (hi << 4) | lo;
        }
        return new MacAddress(v);
    }

    public static MacAddress of(byte[] bytes, int offset) {
        long v = 0;
        for (int i = 0; i < 6; i++) {
            v = (v << 8) | (bytes[offset + i] & 0xFF);
        }
        return new MacAddress(v);
    }

    /**
     * A deterministic locally administered unicast address for {@code seed} (a device or netdev
     * id): QEMU's 52:54:00 prefix followed by the low 24 bits of the CRC-32 of the seed's UTF-8
     * bytes. No randomness, so a run can be replayed.
     */
    public static MacAddress derivedFrom(String seed) {
        CRC32 crc = new CRC32();
        crc.update(seed.getBytes(StandardCharsets.UTF_8));
        return new MacAddress((QEMU_OUI << 24) | (crc.getValue() & 0xFF_FFFFL));
    }

    public byte[] toBytes() {
        byte[] out = new byte[6];
        writeTo(out, 0);
        return out;
    }

    public void writeTo(byte[] into, int offset) {
        for (int i = 0; i < 6; i++) {
            into[offset + i] = (byte) (value >>> (8 * (5 - i)));
        }
    }

    /** The I/G bit of the first octet. */
    public boolean isMulticast() {
        return ((value >>> 40) & 1) != 0;
    }

    public boolean isBroadcast() {
        return value == BROADCAST.value;
    }

    public boolean isZero() {
        return value == 0;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(17);
        for (int i = 5; i >= 0; i--) {
            int b = (int) (value >>> (8 * i)) & 0xFF;
            sb.append(Character.forDigit(b >>> 4, 16)).append(Character.forDigit(b & 0xF, 16));
            if (i > 0) {
                sb.append(':');
            }
        }
        return sb.toString();
    }
}
