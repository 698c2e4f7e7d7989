package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each kind of malformed input, one by one: the documented exception, a message that names the fault, fds closed. */
class MalformedStreamTest {
    private final FakeFds fds = new FakeFds();
    private final Schema receiver = Schema.builder("dev", 1).u8("small").fd("fd").build();

    /** header, one "dev" section with one fd, end, description; {@code edit} may change the list. */
    private StreamFormatException reject(Schema sender, UnaryOperator<List<Frame>> edit, String expectInMessage) {
        int before = OwnedFd.openCount();
        OwnedFd fd = fds.open();
        List<Frame> frames = new ArrayList<>();
        for (Frame f : Fixtures.encode(List.of(Section.of(0, sender.newStruct().setFd("fd", fd))))) {
            frames.add(Fixtures.transfer(f));
        }
        fd.close();
        frames = edit.apply(frames);
        StreamDecoder dec = new StreamDecoder(SectionResolver.of(receiver), new DecoderLimits(4096, 16, 1024));
        List<Frame> input = frames;
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> {
            for (Frame f : input) {
                Section s = dec.accept(f);
                if (s != null) {
                    s.close();
                }
            }
            dec.finish();
        }, "malformed input must raise StreamFormatException");
        assertTrue(e.getMessage().contains(expectInMessage),
                "the message must name the fault (" + expectInMessage + "): " + e.getMessage());
        for (Frame f : input) {
            f.close(); // frames never fed belong to the test; fed ones are already closed (idempotent)
        }
        assertEquals(List.of(), fds.leaked(), "every fd that arrived is closed");
        assertEquals(List.of(), fds.closedTwice(), "no fd is closed twice");
        assertEquals(before, OwnedFd.openCount(), "owned-fd count unchanged");
        return e;
    }

    private static UnaryOperator<List<Frame>> replace(int i, UnaryOperator<Frame> f) {
        return l -> {
            List<Frame> c = new ArrayList<>(l);
            Frame old = c.get(i);
            c.set(i, f.apply(old));
            return c;
        };
    }

    private static Frame withPayload(Frame f, byte[] p) {
        return new Frame(p, f.fds());
    }

    @Test
    void badMagic() {
        reject(receiver, replace(0, f -> withPayload(f, "QEVM\0\0\0\3".getBytes())), "bad magic");
    }

    @Test
    void truncatedPayload() {
        byte[][] body = new byte[1][];
        reject(receiver, replace(1, f -> {
            body[0] = Fixtures.body(f);
            return Fixtures.sealed(f, Arrays.copyOf(body[0], body[0].length - 3));
        }), "section 'dev' instance 0: bad CBOR: Unexpected end-of-input");
    }

    @Test
    void truncatedFrameFailsItsChecksum() {
        StreamFormatException e = reject(receiver,
                replace(1, f -> withPayload(f, Arrays.copyOf(f.payload(), f.payload().length - 3))),
                "checksum mismatch in frame 2 (presumably device section #1)");
        assertEquals(StreamFormatException.Reason.CORRUPT, e.reason(), "a damaged frame is CORRUPT");
    }

    @Test
    void flippedBitInASectionIsCorruptAndNamesFrameAndPhase() {
        StreamFormatException e = reject(receiver, replace(1, f -> {
            byte[] p = f.payload();
            p[p.length / 2] ^= 0x10;
            return withPayload(f, p);
        }), "checksum mismatch in frame 2 (presumably device section #1): the CRC-32C of its ");
        assertEquals(StreamFormatException.Reason.CORRUPT, e.reason(), "a damaged frame is CORRUPT");
        assertTrue(e.getMessage().contains("nothing of it was loaded"), "says nothing was loaded: " + e.getMessage());
    }

    @Test
    void flippedBitInTheHeaderEndMarkerAndDescriptionIsCorrupt() {
        String[] phase = {"frame 1 (header)", "", "frame 3 (presumably the end marker)", "frame 4 (description)"};
        for (int i : new int[] {0, 2, 3}) {
            StreamFormatException e = reject(receiver, replace(i, f -> {
                byte[] p = f.payload();
                p[p.length - 5] ^= 0x01; // the last byte before the checksum
                return withPayload(f, p);
            }), "checksum mismatch in " + phase[i]);
            assertEquals(StreamFormatException.Reason.CORRUPT, e.reason(), "a damaged frame is CORRUPT");
        }
    }

    @Test
    void frameTooShortForItsChecksum() {
        reject(receiver, replace(2, f -> withPayload(f, new byte[] {0, 0x42})),
                "frame 3 (presumably the end marker) has 2 bytes: too short for its content and its 4-byte checksum");
    }

    @Test
    void oversizePayload() {
        reject(receiver, replace(1, f -> withPayload(f, new byte[5000])), "exceeds the limit of 4096");
    }

    @Test
    void badCbor() {
        reject(receiver, replace(1, f -> Fixtures.sealed(f, new byte[] {4, (byte) 0xFF, (byte) 0xFF})), "bad CBOR");
    }

    @Test
    void wrongFieldType() {
        Schema sender = Schema.builder("dev", 1).bool("small").fd("fd").build();
        StreamFormatException e = reject(sender, l -> l, "expected u8 (unsigned integer), found a bool");
        assertEquals("small", e.fieldPath(), "the field path is given");
        assertTrue(e.getMessage().startsWith("section 'dev' instance 0, field small:"), "section and field named: " + e.getMessage());
    }

    @Test
    void integerOutOfRange() {
        Schema sender = Schema.builder("dev", 1).u32("small").fd("fd").build();
        reject(sender, l -> {
            Frame s = l.get(1);
            byte[] p = Fixtures.body(s);
            // "small": 0 is encoded as 0x00 right after the key; make it 300 (0x19 0x01 0x2C)
            int at = indexOf(p, new byte[] {0x65, 's', 'm', 'a', 'l', 'l'}) + 6;
            byte[] q = new byte[p.length + 2];
            System.arraycopy(p, 0, q, 0, at);
            q[at] = 0x19;
            q[at + 1] = 0x01;
            q[at + 2] = 0x2C;
            System.arraycopy(p, at + 1, q, at + 3, p.length - at - 1);
            List<Frame> c = new ArrayList<>(l);
            c.set(1, Fixtures.sealed(s, q));
            return c;
        }, "300 is out of range for u8");
    }

    @Test
    void slotOutOfRange() {
        reject(receiver, replace(1, f -> {
            f.close();
            return new Frame(f.payload(), List.of());
        }), "fd slot 0 out of range (frame has 0 fds)");
    }

    @Test
    void fdCountNotMatchingSlots() {
        reject(receiver, replace(1, f -> {
            List<OwnedFd> more = new ArrayList<>(f.fds());
            more.add(fds.open());
            return new Frame(f.payload(), more);
        }), "frame carries 2 fds but the section references 1");
    }

    @Test
    void fdsOnTheHeader() {
        reject(receiver, replace(0, f -> new Frame(f.payload(), List.of(fds.open()))), "the header frame carries 1 fds");
    }

    @Test
    void unknownSection() {
        Schema sender = Schema.builder("other", 1).fd("fd").build();
        reject(sender, l -> l, "unknown section");
    }

    @Test
    void missingEndMarker() {
        StreamFormatException e = reject(receiver, l -> l.subList(0, 2), "before the end marker");
        assertEquals(StreamFormatException.Reason.TRUNCATED, e.reason(), "an early end is TRUNCATED");
    }

    @Test
    void droppedSectionIsCaughtByTheEndMarker() {
        reject(receiver, l -> {
            List<Frame> c = new ArrayList<>(l);
            c.remove(1).close();
            return c;
        }, "end marker counts 1 sections but 0 were received");
    }

    @Test
    void trailingBytesInAFrame() {
        reject(receiver, replace(2, f -> Fixtures.sealed(f, Arrays.copyOf(Fixtures.body(f), Fixtures.body(f).length + 1))),
                "trailing bytes after the end marker");
    }

    @Test
    void trailingFrameAfterTheDescription() {
        reject(receiver, l -> {
            List<Frame> c = new ArrayList<>(l);
            c.add(new Frame(new byte[] {4}, List.of(fds.open())));
            return c;
        }, "trailing frame");
    }

    private static int indexOf(byte[] a, byte[] b) {
        outer:
        for (int i = 0; i + b.length <= a.length; i++) {
            for (int j = 0; j < b.length; j++) {
                if (a[i + j] != b[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("pattern not found");
    }
}
