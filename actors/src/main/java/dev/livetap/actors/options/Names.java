package dev.livetap.actors.options;

import java.nio.charset.StandardCharsets;

/** The naming rules that options share: QEMU ids and Linux interface names. */
public final class Names {
    /** Longest id accepted (QEMU's id syntax has no limit of its own; livetap caps it). */
    public static final int ID_LENGTH_MAX = 127;
    /** IFNAMSIZ − 1: the kernel's interface names hold at most 15 bytes. */
    public static final int IFNAME_BYTES_MAX = 15;

    private Names() {
    }

    /**
     * QEMU's {@code id_wellformed}: a letter, then letters, digits, '-', '.', '_'; here also at
     * most {@value #ID_LENGTH_MAX} characters.
     */
    public static boolean isWellFormedId(String id) {
        if (id == null || id.isEmpty() || id.length() > ID_LENGTH_MAX) {
            return false;
        }
        if (!isAsciiLetter(id.charAt(0))) {
            return false;
        }
        for (int i = 1; i < id.length(); i++) {
            char c = id.charAt(i);
            if (!(isAsciiLetter(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_')) {
                return false;
            }
        }
        return true;
    }

    private static boolean isAsciiLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    /** Throws QEMU's text for an ill-formed id in parameter {@code name}. */
    static String requireId(String name, String id) {
        if (!isWellFormedId(id)) {
            throw new OptionException("Parameter '" + name + "' expects an identifier",
                    "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter,"
                            + " at most " + ID_LENGTH_MAX + " characters.");
        }
        return id;
    }

    /**
     * The kernel's {@code dev_valid_name}: 1 to 15 bytes, not "." or "..", no '/', ':' or
     * whitespace.
     */
    public static boolean isValidIfname(String ifname) {
        if (ifname == null || ifname.isEmpty() || ifname.equals(".") || ifname.equals("..")) {
            return false;
        }
        if (ifname.getBytes(StandardCharsets.UTF_8).length > IFNAME_BYTES_MAX) {
            return false;
        }
        for (int i = 0; i < ifname.length(); i++) {
            char c = ifname.charAt(i);
            if (c == '/' || c == ':' || Character.isWhitespace(c) || c < 0x20) {
                return false;
            }
        }
        return true;
    }

    static String requireIfname(String ifname) {
        if (!isValidIfname(ifname)) {
            throw new OptionException("Parameter 'ifname' expects an interface name of 1 to "
                    + IFNAME_BYTES_MAX + " bytes without '/', ':' or spaces; got '" + ifname + "'");
        }
        return ifname;
    }
}
