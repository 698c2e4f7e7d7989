package dev.livetap.codec;

/**
 * Limits a decoder enforces on what it receives ("put a limit on everything").
 *
 * @param maxFramePayloadBytes frames with longer payloads are refused before parsing
 * @param maxSections          sections per stream
 * @param maxStringBytes       any CBOR text or byte string in a payload
 */
public record DecoderLimits(int maxFramePayloadBytes, int maxSections, int maxStringBytes) {
    /** 16 MiB frames (the framing layer's own limit), 65,536 sections, 1 MiB strings. */
    public static final DecoderLimits DEFAULT = new DecoderLimits(16 * 1024 * 1024, 65_536, 1024 * 1024);

    public DecoderLimits {
        if (maxFramePayloadBytes < 16 || maxSections < 1 || maxStringBytes < 16) {
            throw new IllegalArgumentException("limits too small: " + maxFramePayloadBytes + ", " + maxSections + ", " + maxStringBytes);
        }
    }
}
