package dev.livetap.actors.migration;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The return-path frame: bytes as documented in docs/architecture.md, and every malformed frame refused. */
class ReturnPathTest {
    @Test
    void loadedIsKindByteThenACborMap() {
        // 0x20, then CBOR {"kind": "loaded"}: map(1), text(4) "kind", text(6) "loaded"
        byte[] expected = {0x20, (byte) 0xA1, 0x64, 'k', 'i', 'n', 'd', 0x66, 'l', 'o', 'a', 'd', 'e', 'd'};
        assertArrayEquals(expected, ReturnPath.loaded(), "the documented bytes of 'loaded'");
        assertEquals(new ReturnPath.Loaded(), ReturnPath.decode(Frame.of(ReturnPath.loaded())));
    }

    @Test
    void completedIsTheSourcesConfirmation() {
        byte[] b = ReturnPath.completed();
        assertEquals(0x20, b[0] & 0xFF, "a return-path frame starts with kind 0x20");
        assertEquals(new ReturnPath.Completed(), ReturnPath.decode(Frame.of(b)), "completed round trips");
        assertEquals(new ReturnPath.Completed(false), ReturnPath.decode(Frame.of(ReturnPath.completed(false))),
                "a paused source says so: the run state travels");
        assertEquals(new ReturnPath.Completed(true), ReturnPath.decode(Frame.of(ReturnPath.completed(true))));
    }

    @Test
    void failedCarriesTheReason() {
        assertEquals(new ReturnPath.Failed("queue 2: no vhost"), ReturnPath.decode(Frame.of(ReturnPath.failed("queue 2: no vhost"))));
        String longReason = "x".repeat(10_000);
        ReturnPath.Failed f = (ReturnPath.Failed) ReturnPath.decode(Frame.of(ReturnPath.failed(longReason)));
        assertEquals(ReturnPath.REASON_MAX_CHARS, f.reason().length(), "a reason is cut at 4096 characters");
    }

    @Test
    void malformedFramesAreRefusedWithTheReason() {
        assertEquals("not a return-path frame (kind byte 0x04, expected 0x20)",
                assertThrows(IllegalArgumentException.class, () -> ReturnPath.decode(Frame.of(new byte[] {4, 0}))).getMessage());
        assertEquals("not a return-path frame (kind byte missing, expected 0x20)",
                assertThrows(IllegalArgumentException.class, () -> ReturnPath.decode(Frame.of(new byte[0]))).getMessage());
        byte[] unknown = ReturnPath.loaded();
        unknown[unknown.length - 1] = 'x';
        assertEquals("unknown return-path kind 'loadex'",
                assertThrows(IllegalArgumentException.class, () -> ReturnPath.decode(Frame.of(unknown))).getMessage());
        assertThrows(IllegalArgumentException.class, () -> ReturnPath.decode(Frame.of(new byte[] {0x20, (byte) 0xFF})),
                "bytes that are not CBOR are refused");
    }

    @Test
    void aReturnPathFrameWithFdsIsRefusedAndTheFdsAreClosed() {
        InMemoryOs os = new InMemoryOs();
        int before = OwnedFd.openCount();
        OwnedFd[] pipe = os.fds().pipe();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ReturnPath.decode(new Frame(ReturnPath.loaded(), List.of(pipe[0], pipe[1]))));
        assertEquals("return-path frame carries 2 fds but may carry none", e.getMessage());
        assertFalse(pipe[0].isOpen() || pipe[1].isOpen(), "stray fds on the return path are closed");
        assertEquals(before, OwnedFd.openCount());
    }
}
