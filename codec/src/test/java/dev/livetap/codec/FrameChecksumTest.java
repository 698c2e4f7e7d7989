package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The frame checksum as docs/stream-format.md specifies it, and an exhaustive single-bit sweep. */
class FrameChecksumTest {
    @Test
    void isCrc32cOfThePayloadBeforeTheTrailerBigEndian() {
        // the CRC-32C check value (RFC 3720 / the Castagnoli catalogue): "123456789" -> 0xE3069283
        byte[] sealed = FrameChecksum.seal("123456789".getBytes(StandardCharsets.US_ASCII));
        assertArrayEquals(new byte[] {(byte) 0xE3, 0x06, (byte) 0x92, (byte) 0x83},
                java.util.Arrays.copyOfRange(sealed, 9, 13), "CRC-32C check value, big-endian");
        assertTrue(FrameChecksum.matches(sealed), "a sealed payload matches");
        assertArrayEquals("123456789".getBytes(StandardCharsets.US_ASCII), FrameChecksum.body(sealed), "body");
        sealed[3] ^= 1;
        assertFalse(FrameChecksum.matches(sealed), "a damaged payload does not");
        assertTrue(FrameChecksum.matches(FrameChecksum.reseal(sealed)), "resealing recomputes the trailer");
    }

    @Test
    void everyFrameTheEncoderWritesIsSealed() {
        StateStruct state = Fixtures.virtioNetState(Fixtures.virtioNet(2), 2, new FakeFds(), 0);
        List<Frame> frames = Fixtures.encode(List.of(Section.of(0, state)));
        assertEquals(4, frames.size(), "header, section, end, description");
        for (Frame f : frames) {
            assertTrue(FrameChecksum.matches(f.payload()), "sealed: " + f);
        }
        state.closeFds(); // the frames only borrowed them
    }

    /** Every single bit of every frame of the stream, flipped one at a time: each is refused, fds closed. */
    @Test
    void everySingleBitFlipInEveryFrameKindIsRefused() {
        int flips = 0;
        for (int frame = 0; frame < CorruptedFramePropertiesTest.STREAM.size(); frame++) {
            int bits = CorruptedFramePropertiesTest.STREAM.get(frame).payload().length * 8;
            for (int bit = 0; bit < bits; bit++) {
                CorruptedFramePropertiesTest.refused(frame, Set.of(bit), "bit " + bit);
                flips++;
            }
        }
        System.out.printf("frame checksum: %d single-bit flips over %d frames, all refused%n", flips,
                CorruptedFramePropertiesTest.STREAM.size());
    }
}
