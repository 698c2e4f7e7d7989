package dev.livetap.codec;

import dev.livetap.codec.StreamRecording.RecordedFrame;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Format and section versions, against recorded streams of format version 2 (today's) and 1 (the
 * previous format, recorded by the build of 2026-11-25 that wrote it: loaded, and written on request).
 */
class VersionTest {
    static final String FIXTURE = "/streams/format-v2.ltrec";
    /** The same content recorded at format version 1 (no frame checksums) by the codec of commit 3f1de96. */
    static final String FIXTURE_V1 = "/streams/format-v1.ltrec";

    /** The content of the fixture: a virtio-net at schema version 1 with 4 TAP queues. */
    static List<RecordedFrame> fixtureStream() {
        return fixtureStream(StreamEncoder.FORMAT_VERSION);
    }

    /** The fixture's content written at format {@code formatVersion}. */
    static List<RecordedFrame> fixtureStream(int formatVersion) {
        FakeFds fds = new FakeFds();
        StateStruct nic = Fixtures.virtioNetState(Fixtures.virtioNet(1), 4, fds, 0);
        Schema small = Schema.builder("sample", 1).bool("b").u8("c").build();
        List<RecordedFrame> out = new ArrayList<>();
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(4242, "livetap-fixture", Fixtures.MACHINE)
                .atFormat(formatVersion));
        out.add(StreamRecording.record(enc.header()));
        out.add(StreamRecording.record(enc.section(Section.of("0000:00:03.0/virtio-net", 0, nic))));
        out.add(StreamRecording.record(enc.section(Section.of(7, small.newStruct().setBool("b", true).setUint("c", 200)))));
        for (Frame f : enc.trailer()) {
            out.add(StreamRecording.record(f));
        }
        nic.closeFds();
        return out;
    }

    static List<RecordedFrame> loadFixture() throws IOException {
        return load(FIXTURE);
    }

    static List<RecordedFrame> load(String fixture) throws IOException {
        try (InputStream in = VersionTest.class.getResourceAsStream(fixture)) {
            assertNotNull(in, "fixture " + fixture + " must be on the test class path");
            return StreamRecording.read(in);
        }
    }

    /**
     * Re-records the fixture (only for a new format version, never to make a test pass): run with
     * the test class path and the repository root as the argument.
     */
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0], "codec/src/test/resources" + FIXTURE);
        Files.createDirectories(file.getParent());
        StreamRecording.write(file, fixtureStream());
    }

    @Test
    void formatVersion2IsFrozen() throws IOException {
        assertEquals(fixtureStream(), loadFixture(),
                "encoding the fixture's state today must give the recorded format-2 bytes; a change needs a new format version");
    }

    @Test
    void formatVersion2IsVersion1WithAChecksumTrailerOnEveryFrame() throws IOException {
        List<RecordedFrame> v1 = load(FIXTURE_V1);
        List<RecordedFrame> v2 = loadFixture();
        assertEquals(v1.size(), v2.size(), "same frames");
        for (int i = 0; i < v1.size(); i++) {
            byte[] body = v1.get(i).payload();
            if (i == 0) {
                assertEquals(1, body[7], "the old recording is format 1");
                body[7] = 2; // the header's version field
            } else if (i == v1.size() - 1) { // the description's "format": 1 (CBOR 0x01) becomes 2
                int at = indexOf(body, new byte[] {0x66, 'f', 'o', 'r', 'm', 'a', 't', 0x01}) + 7;
                body[at] = 2;
            }
            assertEquals(new RecordedFrame(FrameChecksum.seal(body), v1.get(i).fdCount()), v2.get(i),
                    "frame " + (i + 1) + " of format 2 = the format-1 frame + its CRC-32C");
        }
    }

    @Test
    void encoderAtFormat1ReproducesThePreviousFormatsRecordingByteForByte() throws IOException {
        assertEquals(load(FIXTURE_V1), fixtureStream(1),
                "a rollback writes what the format-1 build wrote (x-stream-format=1): the recorded bytes, no checksums");
    }

    @Test
    void formatVersion1StreamRecordedByThePreviousFormatLoads() throws IOException {
        FakeFds standIns = new FakeFds();
        int before = OwnedFd.openCount();
        Schema small = Schema.builder("sample", 1).bool("b").u8("c").build();
        StreamDecoder dec = new StreamDecoder((name, inst) -> name.endsWith("virtio-net") ? Fixtures.virtioNet(1)
                : name.equals("sample") ? small : null);
        List<Section> loaded = new ArrayList<>();
        for (RecordedFrame f : load(FIXTURE_V1)) {
            Section s = dec.accept(f.toFrame(standIns::open));
            if (s != null) {
                loaded.add(s);
            }
        }
        dec.finish();
        assertEquals(1, dec.header().formatVersion(), "an upgrade loads the previous format");
        assertEquals(1, dec.description().path("format").asInt(), "its description says format 1");
        assertEquals(2, loaded.size(), "both sections load");
        assertEquals(4, loaded.get(0).struct().fds().size(), "each queue's fd slot is filled by a stand-in");
        assertEquals(200, loaded.get(1).struct().getUint("c"), "second section loads");
        loaded.forEach(Section::close);
        assertEquals(List.of(), standIns.leaked(), "stand-in fds are closed with their sections");
        assertEquals(before, OwnedFd.openCount(), "owned-fd count unchanged");
    }

    @Test
    void aFormat1StreamCarryingChecksumsAnywayIsRefusedAsMalformed() throws IOException {
        List<RecordedFrame> frames = new ArrayList<>(loadFixture());
        byte[] header = frames.get(0).payload();
        header[7] = 1; // a format-2 stream that claims format 1: its trailers are bytes after the CBOR item
        frames.set(0, new RecordedFrame(header, 0));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> feed(frames, (n, i) -> null));
        assertEquals(StreamFormatException.Reason.MALFORMED, e.reason(), "nothing after the CBOR item is accepted: " + e);
    }

    @Test
    void formatOlderThanThePreviousIsRefusedNamingBothVersions() throws IOException {
        List<RecordedFrame> frames = new ArrayList<>(load(FIXTURE_V1));
        byte[] header = frames.get(0).payload();
        header[7] = 0;
        frames.set(0, new RecordedFrame(header, 0));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> feed(frames, (n, i) -> null));
        assertEquals(StreamFormatException.Reason.VERSION, e.reason(), "an old stream is a version refusal");
        assertEquals("stream format version 0 is not loadable here: this side supports 1..2 (the sender is older)",
                e.getMessage(), "the message names both");
    }

    @Test
    void encoderRefusesAFormatItCannotWrite() {
        StreamHeader h = StreamHeader.of(1, "vmm", Fixtures.MACHINE);
        IllegalArgumentException newer = assertThrows(IllegalArgumentException.class, () -> new StreamEncoder(h.atFormat(3)));
        assertEquals("this build writes stream format versions 1..2, not 3", newer.getMessage(), "names what it writes");
        assertThrows(IllegalArgumentException.class, () -> new StreamEncoder(h.atFormat(0)), "format 0 never existed");
    }

    @Test
    void fixtureLoadsWithTodaysNewerSchemaAndNewFieldsGetDefaults() throws IOException {
        FakeFds standIns = new FakeFds();
        int before = OwnedFd.openCount();
        Schema nicV2 = Fixtures.virtioNet(2);
        Schema small = Schema.builder("sample", 1).bool("b").u8("c").build();
        StreamDecoder dec = new StreamDecoder((name, inst) -> name.endsWith("virtio-net") ? nicV2
                : name.equals("sample") ? small : null);
        List<Section> loaded = new ArrayList<>();
        for (RecordedFrame f : loadFixture()) {
            Section s = dec.accept(f.toFrame(standIns::open));
            if (s != null) {
                loaded.add(s);
            }
        }
        dec.finish();
        assertEquals(2, dec.header().formatVersion(), "fixture is format version 2");
        assertEquals("livetap-fixture", dec.header().processName(), "header names the sender");
        assertEquals(2, loaded.size(), "both sections load");
        Section nic = loaded.get(0);
        assertEquals(1, nic.version(), "the section keeps the version it was written at");
        assertEquals(1500, nic.struct().getUint("mtu"), "a field added in version 2 takes its default");
        assertEquals(4, nic.struct().subsection("virtio-net-nic").getArray("peers").size(), "4 queue states");
        assertEquals(4, nic.struct().fds().size(), "each queue's fd slot is filled by a stand-in");
        assertEquals(200, loaded.get(1).struct().getUint("c"), "second section loads");
        loaded.forEach(Section::close);
        assertEquals(List.of(), standIns.leaked(), "stand-in fds are closed with their sections");
        assertEquals(before, OwnedFd.openCount(), "owned-fd count unchanged");
    }

    @Test
    void sectionOlderThanTheMinimumIsRefusedNamingBothVersions() throws IOException {
        Schema strict = Schema.builder("virtio-net", 2).minVersion(2).u16("mtu").since(2).build();
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> feed(loadFixture(),
                (n, i) -> n.endsWith("virtio-net") ? strict : null));
        assertEquals(StreamFormatException.Reason.VERSION, e.reason(), "a version refusal says so");
        assertTrue(e.getMessage().contains("version 1") && e.getMessage().contains("minimum version 2"),
                "the message names the stream's and the minimum version: " + e.getMessage());
    }

    @Test
    void newerSectionVersionIsRefusedNamingBothVersions() {
        Schema v3 = Schema.builder("dev", 3).bool("x").build();
        Schema v2 = Schema.builder("dev", 2).bool("x").build();
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> Fixtures.decode(Fixtures.encode(List.of(Section.of(0, v3.newStruct()))), SectionResolver.of(v2)));
        assertEquals(StreamFormatException.Reason.VERSION, e.reason(), "a version refusal says so");
        assertTrue(e.getMessage().contains("version 3") && e.getMessage().contains("version 2"),
                "the message names both versions: " + e.getMessage());
    }

    @Test
    void newerPeerBackendVersionIsRefusedWithItsFieldPath() {
        FakeFds fds = new FakeFds();
        Schema tapV2 = Schema.builder("net-tap", 2).fd("fd").u32("queue_index").since(2).build();
        Schema sender = Fixtures.virtioNet(1, i -> tapV2);
        StateStruct s = sender.newStruct().setBytes("mac", new byte[6]);
        OwnedFd fd = fds.open();
        s.setSubsection(sender.subsections().get(0).schema().newStruct().setUint("max_queue_pairs", 1)
                .setArray("peers", List.of(tapV2.newStruct().setFd("fd", fd))));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> Fixtures.decode(
                Fixtures.encode(List.of(Section.of(0, s))), SectionResolver.of(Fixtures.virtioNet(1))));
        assertTrue(e.getMessage().contains("virtio-net-nic.peers[0]") && e.getMessage().contains("net-tap version 2"),
                "the message gives the path and versions: " + e.getMessage());
        fd.close();
        assertEquals(List.of(), fds.leaked(), "the transferred fd was closed by the decoder");
    }

    @Test
    void newerFormatVersionIsRefusedNamingBothVersions() throws IOException {
        List<RecordedFrame> frames = new ArrayList<>(loadFixture());
        byte[] header = frames.get(0).payload();
        header[7] = 3;
        frames.set(0, new RecordedFrame(FrameChecksum.reseal(header), 0));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> feed(frames, (n, i) -> null));
        assertEquals(StreamFormatException.Reason.VERSION, e.reason(), "a version refusal says so");
        assertTrue(e.getMessage().contains("format version 3") && e.getMessage().contains("1..2")
                        && e.getMessage().contains("the sender is newer"),
                "the message names the stream's and the supported format versions: " + e.getMessage());
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

    private static void feed(List<RecordedFrame> frames, SectionResolver r) {
        FakeFds fds = new FakeFds();
        StreamDecoder dec = new StreamDecoder(r);
        try {
            for (RecordedFrame f : frames) {
                Section s = dec.accept(f.toFrame(fds::open));
                if (s != null) {
                    s.close();
                }
            }
            dec.finish();
        } finally {
            assertEquals(List.of(), fds.leaked(), "a refused stream's fds are all closed");
        }
    }
}
