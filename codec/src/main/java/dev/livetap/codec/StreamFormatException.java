package dev.livetap.codec;

/**
 * The one exception a decoder raises: the input is malformed or corrupt (checksum mismatch), its
 * format or a section version is not loadable here, or a load hook refused the state. The message names the section and the
 * field path where known. Every fd that arrived with the rejected frame is closed before this is
 * thrown, and the decoder accepts nothing afterwards.
 */
public final class StreamFormatException extends RuntimeException {
    /** Why a stream was refused. */
    public enum Reason {
        /** Bytes, structure, fd slots or frame order are wrong. */
        MALFORMED,
        /** A format or section version outside what this side can load. */
        VERSION,
        /** A pre_load or post_load hook failed. */
        HOOK_FAILED,
        /** The input ended before the end marker and description. */
        TRUNCATED,
        /**
         * A frame's checksum does not match its payload: the frame was damaged on the way and
         * nothing of it was parsed.
         */
        CORRUPT
    }

    private final Reason reason;
    private final String section;
    private final String fieldPath;

    public StreamFormatException(Reason reason, String section, String fieldPath, String detail, Throwable cause) {
        super(format(section, fieldPath, detail), cause);
        this.reason = reason;
        this.section = section;
        this.fieldPath = fieldPath;
    }

    public StreamFormatException(Reason reason, String detail) {
        this(reason, null, null, detail, null);
    }

    public Reason reason() {
        return reason;
    }

    /** The section (name and instance) being decoded, or null outside sections. */
    public String section() {
        return section;
    }

    /** The dotted field path inside the section ({@code peers[3].fd}), or null. */
    public String fieldPath() {
        return fieldPath;
    }

    private static String format(String section, String fieldPath, String detail) {
        StringBuilder sb = new StringBuilder();
        if (section != null) {
            sb.append("section ").append(section);
            if (fieldPath != null && !fieldPath.isEmpty()) {
                sb.append(", field ").append(fieldPath);
            }
            sb.append(": ");
        }
        return sb.append(detail).toString();
    }
}
