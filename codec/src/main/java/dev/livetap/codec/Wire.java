package dev.livetap.codec;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;

import java.nio.charset.StandardCharsets;

/** Constants of the stream format (docs/stream-format.md) and the shared CBOR factories. */
final class Wire {
    /** "LTMS": the first four bytes of a header frame. */
    static final byte[] MAGIC = "LTMS".getBytes(StandardCharsets.US_ASCII);
    static final int HEADER_FIXED_BYTES = 8;
    /** Every frame ends with a CRC-32C of the bytes before it ({@link FrameChecksum}, format version 2). */
    static final int TRAILER_BYTES = FrameChecksum.BYTES;

    /** Frame kinds (first payload byte of every frame after the header), numbered as QEMU's. */
    static final int KIND_END = 0x00;
    static final int KIND_SECTION = 0x04;
    static final int KIND_VMDESC = 0x06;

    /** CBOR tag marking an fd slot number, so that generic readers tell slots from integers. */
    static final int FD_TAG = 19540;

    /** Nesting of structs inside a payload; schemas deeper than this are refused at save time too. */
    static final int MAX_DEPTH = 48;

    static final CBORFactory WRITE_FACTORY = new CBORFactory();

    private Wire() {
    }

    static CBORFactory readFactory(DecoderLimits limits) {
        return CBORFactory.builder()
                .streamReadConstraints(StreamReadConstraints.builder()
                        .maxNestingDepth(MAX_DEPTH * 3 + 8)
                        .maxStringLength(limits.maxStringBytes())
                        .maxNameLength(limits.maxStringBytes())
                        .maxDocumentLength(limits.maxFramePayloadBytes())
                        .maxNumberLength(64)
                        .build())
                .build();
    }

    static ObjectMapper treeMapper(CBORFactory f) {
        return new ObjectMapper(f).enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    }
}
