package dev.livetap.codec;

import dev.livetap.codec.StreamRecording.RecordedFrame;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.UniqueElements;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A frame damaged on the way, in any frame kind, is refused before anything of it is loaded, and
 * every fd that came with it is closed exactly once (counted with fake fds). The stream: header, an
 * 8-queue virtio-net section (8 fds), a section of every field kind (2 fds), end marker, description.
 */
class CorruptedFramePropertiesTest {
    static final Schema NIC = Fixtures.virtioNet(2);
    static final Schema ALL = DecoderFuzzTest.allKinds();
    static final SectionResolver RESOLVER = (name, inst) -> name.equals("all-kinds") ? ALL : NIC;
    static final List<RecordedFrame> STREAM = stream();
    static final String[] PHASE = {"frame 1 (header)", "frame 2 (presumably device section #1)",
        "frame 3 (presumably device section #2)", "frame 4 (presumably the end marker)", "frame 5 (description)"};

    private static List<RecordedFrame> stream() {
        FakeFds src = new FakeFds(1);
        List<Section> sections = List.of(Section.of("0000:00:03.0/virtio-net", 0, Fixtures.virtioNetState(NIC, 8, src, 0)),
                Section.of(0, DecoderFuzzTest.allKindsValue(ALL, src)));
        List<RecordedFrame> out = new ArrayList<>();
        for (Frame f : Fixtures.encode(sections)) {
            out.add(StreamRecording.record(f));
        }
        sections.forEach(Section::close);
        return List.copyOf(out);
    }

    @Property(tries = 2000)
    void aFlippedBitAnywhereInAnyFrameIsRefused(@ForAll @IntRange(min = 0, max = 4) int frame,
                                                @ForAll @IntRange(min = 0, max = 1 << 20) int offset,
                                                @ForAll @IntRange(min = 0, max = 7) int bit) {
        int at = offset % STREAM.get(frame).payload().length;
        refused(frame, Set.of(at * 8 + bit), "bit " + bit + " of byte " + at);
    }

    /** The simulation's corrupted_bytes fault: one byte XOR a mask of 1..255. */
    @Property(tries = 2000)
    void aByteXorAnyMaskInAnyFrameIsRefused(@ForAll @IntRange(min = 0, max = 4) int frame,
                                            @ForAll @IntRange(min = 0, max = 1 << 16) int offset,
                                            @ForAll @IntRange(min = 1, max = 255) int mask) {
        int at = offset % STREAM.get(frame).payload().length;
        Set<Integer> bits = new java.util.HashSet<>();
        for (int b = 0; b < 8; b++) {
            if ((mask & (1 << b)) != 0) {
                bits.add(at * 8 + b);
            }
        }
        refused(frame, bits, "byte " + at + " ^ 0x" + Integer.toHexString(mask));
    }

    /** The case a CI run drew: the version's last byte XOR 3 makes format 2 into format 1, which loads, so the trailer is left over. */
    @Example
    void aVersionDamagedIntoFormatOneIsRefusedAsMalformed() {
        refused(0, java.util.Set.of(7 * 8, 7 * 8 + 1), "byte 7 ^ 0x3");
    }

    /** Several bits anywhere in the frame (CRC-32C misses such damage with probability 2^-32). */
    @Property(tries = 1000)
    void severalFlippedBitsInAnyFrameAreRefused(@ForAll @IntRange(min = 0, max = 4) int frame,
                                                @ForAll @Size(min = 2, max = 12) @UniqueElements
                                                List<@IntRange(min = 0, max = 1 << 20) Integer> positions) {
        int bitsInFrame = STREAM.get(frame).payload().length * 8;
        Set<Integer> bits = new java.util.HashSet<>();
        for (int p : positions) {
            bits.add(p % bitsInFrame);
        }
        refused(frame, bits, "bits " + bits);
    }

    /**
     * Feeds the stream with fresh fake fds, the bits {@code bits} of frame {@code frame} flipped;
     * asserts the refusal, that it names the frame, and that every fd that arrived is closed once.
     */
    static void refused(int frame, Set<Integer> bits, String what) {
        byte[] p = STREAM.get(frame).payload();
        for (int b : bits) {
            p[b / 8] ^= (byte) (1 << (b % 8));
        }
        FakeFds rx = new FakeFds();
        int before = OwnedFd.openCount();
        StreamDecoder dec = new StreamDecoder(RESOLVER);
        List<Section> loaded = new ArrayList<>();
        String where = "frame " + (frame + 1) + ", " + what;
        try {
            for (int i = 0; i < frame; i++) {
                Section s = dec.accept(STREAM.get(i).toFrame(rx::open));
                if (s != null) {
                    loaded.add(s);
                }
            }
            Frame bad = new RecordedFrame(p, STREAM.get(frame).fdCount()).toFrame(rx::open);
            int opened = rx.openedCount();
            StreamFormatException e = assertThrows(StreamFormatException.class, () -> dec.accept(bad),
                    "a damaged frame must be refused: " + where);
            expectedReason(frame, bits, e, where);
            assertEquals(STREAM.get(frame).fdCount(), bad.fds().size(), "the frame carried its fds: " + where);
            for (OwnedFd fd : bad.fds()) {
                assertFalse(fd.isOpen(), "each fd of the refused frame is closed: " + where);
                assertTrue(rx.isClosed(fd.number()), "closed at the OS level: " + where);
            }
            assertEquals(opened, rx.openedCount(), "the decoder opened nothing: " + where);
            assertEquals(StreamDecoder.State.FAILED, dec.state(), "the decoder is failed: " + where);
            for (int i = frame + 1; i < STREAM.size(); i++) {
                Frame late = STREAM.get(i).toFrame(rx::open);
                assertThrows(StreamFormatException.class, () -> dec.accept(late), "a failed decoder refuses more: " + where);
                assertTrue(late.fds().stream().noneMatch(OwnedFd::isOpen), "and closes their fds: " + where);
            }
        } finally {
            loaded.forEach(Section::close);
        }
        assertEquals(List.of(), rx.leaked(), "every fd that arrived is closed: " + where);
        assertEquals(List.of(), rx.closedTwice(), "no fd is closed twice: " + where);
        assertEquals(before, OwnedFd.openCount(), "owned-fd count unchanged: " + where);
    }

    /** The header's format version (big-endian bytes 4..7, today 2) after {@code bits} (bit b: byte b / 8, bit b % 8) flipped. */
    private static long damagedVersion(Set<Integer> bits) {
        long v = StreamEncoder.FORMAT_VERSION;
        for (int b : bits) {
            if (b >= 32 && b < 64) {
                v ^= (1L << (b % 8)) << (8 * (7 - b / 8));
            }
        }
        return v;
    }

    /** The header's magic (bytes 0..3) and version (4..7) are read before its checksum; all else is CORRUPT. */
    private static void expectedReason(int frame, Set<Integer> bits, StreamFormatException e, String where) {
        boolean magic = frame == 0 && bits.stream().anyMatch(b -> b < 32);
        boolean version = frame == 0 && !magic && bits.stream().anyMatch(b -> b < 64);
        if (magic) {
            assertEquals(StreamFormatException.Reason.MALFORMED, e.reason(), where + ": " + e.getMessage());
            assertTrue(e.getMessage().startsWith("bad magic"), where + ": " + e.getMessage());
        } else if (version && damagedVersion(bits) == 1) {
            // damaged into format 1, which this build loads: a format-1 header has no trailer, so the
            // format-2 trailer is left over (docs/stream-format.md, "Compatibility between livetap versions")
            assertEquals(StreamFormatException.Reason.MALFORMED, e.reason(), where + ": " + e.getMessage());
            if (bits.stream().allMatch(b -> b >= 32 && b < 64)) {
                assertTrue(e.getMessage().startsWith("trailing bytes after the header"), where + ": " + e.getMessage());
            }
        } else if (version) {
            assertEquals(StreamFormatException.Reason.VERSION, e.reason(), where + ": " + e.getMessage());
            assertTrue(e.getMessage().startsWith("stream format version "), where + ": " + e.getMessage());
        } else if (e.reason() != StreamFormatException.Reason.CORRUPT) {
            fail("a damaged frame is CORRUPT, got " + e.reason() + ": " + e.getMessage() + " (" + where + ")");
        } else {
            // in the section phase the decoder names the frame by its kind byte, which may be the damaged one
            boolean kindDamaged = frame > 0 && frame < 4 && bits.stream().anyMatch(b -> b < 8);
            String phase = kindDamaged ? "frame " + (frame + 1) + " (" : PHASE[frame] + ": the CRC-32C of its ";
            assertTrue(e.getMessage().startsWith("checksum mismatch in " + phase),
                    "the message names the frame and the phase: " + e.getMessage() + " (" + where + ")");
            assertTrue(e.getMessage().contains("nothing of it was loaded"), e.getMessage());
        }
    }
}
