package dev.livetap.actors.guest;

/** An IPv4 address, held as its 32 bits in network order. */
public record Ipv4Address(int value) {
    public static final Ipv4Address ANY = new Ipv4Address(0);

    /** Parses dotted decimal ({@code 10.0.0.2}). */
    public static Ipv4Address parse(String text) {
        String[] parts = text == null ? new String[0] : text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("not an IPv4 address: " + text);
        }
        int v = 0;
        for (String p : parts) {
            if (!p.matches("[0-9]{1,3}") || Integer.parseInt(p) > 255) {
                throw new IllegalArgumentException("not an IPv4 address: " + text);
            }
            v = (v << 8) | Integer.parseInt(p);
        }
        return new Ipv4Address(v);
    }

    public static Ipv4Address of(byte[] bytes, int offset) {
        return new Ipv4Address(((bytes[offset] & 0xFF) << 24) | ((bytes[offset + 1] & 0xFF) << 16)
                | ((bytes[offset + 2] & 0xFF) << 8) | (bytes[offset + 3] & 0xFF));
    }

    public void writeTo(byte[] into, int offset) {
        into[offset] = (byte) (value >>> 24);
        into[offset + 1] = (byte) (value >>> 16);
        into[offset + 2] = (byte) (value >>> 8);
        into[offset + 3] = (byte) value;
    }

    @Override
    public String toString() {
        return (value >>> 24) + "." + ((value >>> 16) & 0xFF) + "." + ((value >>> 8) & 0xFF) + "." + (value & 0xFF);
    }
}
