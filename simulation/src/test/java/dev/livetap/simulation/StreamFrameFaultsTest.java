package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.ReturnPath;
import dev.livetap.codec.FrameChecksum;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StreamDecoder;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.codec.StreamFormatException;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.Frame;
import dev.livetap.simulation.faults.FaultyChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The fault catalogue's view of today's stream format: {@link FaultyChannel#kind} classifies every
 * frame the encoder writes, and the section patches (version mismatch, unknown section) still
 * reach the decoder as what they say, not as a checksum failure.
 */
class StreamFrameFaultsTest {
    private static final Schema DEV = Schema.builder("0000:00:03.0/virtio-net", 2).u8("x").bool("y").build();

    private static List<Frame> stream() {
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "sim", "pc-q35-11.0"));
        List<Frame> frames = new ArrayList<>();
        frames.add(enc.header());
        frames.add(enc.section(Section.of(DEV.name(), 0, DEV.newStruct().setUint("x", 7))));
        frames.addAll(enc.trailer());
        return frames;
    }

    @Test
    void kindClassifiesEveryFrameOfTheStream() {
        List<Frame> frames = stream();
        assertEquals(List.of("header", "section", "end", "vmdesc"),
                frames.stream().map(f -> FaultyChannel.kind(f.payload())).toList(), "frame kinds in order");
        assertEquals("return", FaultyChannel.kind(ReturnPath.loaded()), "the return path's loaded");
    }

    @Test
    void aVersionPatchedSectionIsRefusedForItsVersion() {
        StreamFormatException e = feedPatched(true);
        assertEquals(StreamFormatException.Reason.VERSION, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("version 3 in the stream is newer than version 2"), e.getMessage());
    }

    @Test
    void aNamePatchedSectionIsRefusedAsUnknown() {
        StreamFormatException e = feedPatched(false);
        assertEquals(StreamFormatException.Reason.MALFORMED, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("unknown section"), e.getMessage());
    }

    private static StreamFormatException feedPatched(boolean version) {
        List<Frame> frames = stream();
        byte[] patched = SectionPatch.patch(frames.get(1).payload(), version);
        assertNotNull(patched, "the patch understands a section frame");
        assertTrue(FrameChecksum.matches(patched), "the patched frame is resealed");
        StreamDecoder dec = new StreamDecoder(SectionResolver.of(DEV));
        dec.accept(frames.get(0));
        return assertThrows(StreamFormatException.class, () -> dec.accept(Frame.of(patched)));
    }
}
