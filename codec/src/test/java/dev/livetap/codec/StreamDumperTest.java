package dev.livetap.codec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StreamDumperTest {
    @TempDir
    Path dir;

    private static String run(Path file, boolean json, int expectStatus) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status = StreamDumper.dump(file, json, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(expectStatus, status, "dump status; output was:\n" + out);
        return out;
    }

    @Test
    void printsTheFixtureReadably() throws Exception {
        Path f = dir.resolve("v2.ltrec");
        StreamRecording.write(f, VersionTest.loadFixture());
        String text = run(f, false, StreamDumper.OK);
        assertTrue(text.contains("header: format version 2, sender pid 4242 (livetap-fixture), machine pc-q35-10.2, "
                        + "checksums: CRC-32C per frame"),
                "the header line names format, sender and machine:\n" + text);
        assertTrue(text.contains("section #1 '0000:00:03.0/virtio-net' instance 0 version 1"), "sections listed:\n" + text);
        assertTrue(text.contains("subsection virtio-net-nic v1:"), "subsections shown:\n" + text);
        assertTrue(text.contains("fd: fd slot 3 (not transferable)"), "fd slots shown as not transferable:\n" + text);
        assertTrue(text.contains("mac: bytes[6] 525400123400"), "bytes in hex:\n" + text);
        assertTrue(text.contains("end marker: 2 sections"), "end marker shown:\n" + text);
        assertTrue(text.contains("host_vnet_hdr_len:u32"), "description lists field types:\n" + text);
    }

    @Test
    void printsJsonThatParses() throws Exception {
        Path f = dir.resolve("v2.ltrec");
        StreamRecording.write(f, VersionTest.loadFixture());
        JsonNode root = new ObjectMapper().readTree(run(f, true, StreamDumper.OK));
        assertEquals(2, root.path("header").path("format_version").asInt(), "header in JSON");
        assertEquals("CRC-32C per frame", root.path("checksums").asText(), "checksums in JSON");
        JsonNode peers = root.path("sections").get(0).path("subsections").get(0).path("fields").path("peers");
        assertEquals(4, peers.size(), "4 peer states in JSON");
        assertEquals(2, peers.get(2).path("fields").path("fd").path("fd_slot").asInt(), "fd slot of queue 2");
        assertEquals(2, root.path("description").path("sections").size(), "description in JSON");
    }

    @Test
    void stillShowsAFormat1RecordingWhichHasNoChecksums() throws Exception {
        Path f = dir.resolve("v1.ltrec");
        StreamRecording.write(f, VersionTest.load(VersionTest.FIXTURE_V1));
        String text = run(f, false, StreamDumper.OK);
        assertTrue(text.contains("header: format version 1, sender pid 4242 (livetap-fixture), machine pc-q35-10.2, "
                + "checksums: none (format 1)"), "an old recording is shown, saying it has no checksums:\n" + text);
        assertTrue(text.contains("fd: fd slot 3 (not transferable)"), "its sections are shown:\n" + text);
    }

    @Test
    void reportsACorruptedFrameByNumberAndKind() throws Exception {
        List<StreamRecording.RecordedFrame> frames = new java.util.ArrayList<>(VersionTest.loadFixture());
        byte[] p = frames.get(1).payload();
        p[20] ^= 0x04;
        frames.set(1, new StreamRecording.RecordedFrame(p, frames.get(1).fdCount()));
        Path f = dir.resolve("corrupt.ltrec");
        StreamRecording.write(f, frames);
        String text = run(f, false, StreamDumper.MALFORMED);
        assertTrue(text.contains("MALFORMED: checksum mismatch in frame 2 (presumably a section): the CRC-32C of its "),
                "the corrupted frame is named:\n" + text);
        assertTrue(text.contains("header: format version 2"), "what came before is still shown:\n" + text);
    }

    @Test
    void reportsMalformedAndUnreadableRecordings() throws Exception {
        List<StreamRecording.RecordedFrame> frames = VersionTest.loadFixture();
        Path cut = dir.resolve("cut.ltrec");
        StreamRecording.write(cut, frames.subList(0, 2));
        String text = run(cut, false, StreamDumper.MALFORMED);
        assertTrue(text.contains("MALFORMED: the recording ends before the end marker"), "the fault is named:\n" + text);
        Path junk = dir.resolve("junk");
        Files.writeString(junk, "hello");
        assertTrue(run(junk, false, StreamDumper.UNREADABLE).contains("not a livetap stream recording"),
                "a non-recording is refused");
    }
}
