package dev.livetap.actors.guest;

/** Hex literals for hand-written frames: whitespace and '|' are ignored. */
final class Hex {
    private Hex() {
    }

    static byte[] bytes(String hex) {
        String clean = hex.replaceAll("[\\s|]", "");
        byte[] out = new byte[clean.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(clean.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }

    static String of(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xFF));
        }
        return sb.toString();
    }
}
