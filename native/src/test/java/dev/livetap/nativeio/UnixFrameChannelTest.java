package dev.livetap.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.memory.InMemoryOs;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Edge cases of the framing state machine, on the in-memory OS where reads and writes can be made short. */
@Timeout(value = 20, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class UnixFrameChannelTest {
    private InMemoryOs os;
    private int ownedAtStart;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void setUp() {
        os = new InMemoryOs();
        ownedAtStart = OwnedFd.openCount();
    }

    @AfterEach
    void everyFdClosed() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
        os.reactor().runUntilIdle();
        assertEquals(0, os.fds().countProcessFds(), "every fd is closed at the end of a test:\n" + os.describeOpenFds());
        assertEquals(ownedAtStart, OwnedFd.openCount(), "OwnedFd.openCount is back to its start");
        assertTrue(os.ledger().conserved(), "opened - closed == open: " + os.ledger());
        os.reactor().close();
    }

    private <T extends AutoCloseable> T track(T c) {
        toClose.add(c);
        return c;
    }

    private static final class Recorder implements FrameChannel.FrameHandler, AutoCloseable {
        final ConcurrentLinkedQueue<Frame> frames = new ConcurrentLinkedQueue<>();
        final AtomicInteger closes = new AtomicInteger();
        volatile Throwable cause;

        @Override
        public void onFrame(Frame frame) {
            frames.add(frame);
        }

        @Override
        public void onClosed(Throwable c) {
            cause = c;
            closes.incrementAndGet();
        }

        @Override
        public void close() {
            frames.forEach(Frame::close);
            frames.clear();
        }
    }

    private final class Ends {
        final OwnedFd[] sockets = os.unix().socketPair();
        final FrameChannel a = track(UnixFrameChannel.open(os, sockets[0], ChannelLimits.DEFAULT));
        final FrameChannel b = track(UnixFrameChannel.open(os, sockets[1], ChannelLimits.DEFAULT));
        final Recorder ra = track(new Recorder());
        final Recorder rb = track(new Recorder());

        Ends start() {
            a.start(ra);
            b.start(rb);
            return this;
        }
    }

    /** A raw sender end and a receiving channel. */
    private final class Raw {
        final OwnedFd raw;
        final OwnedFd receiverSocket;
        final FrameChannel channel;
        final Recorder rec = track(new Recorder());

        Raw() {
            OwnedFd[] s = os.unix().socketPair();
            raw = track(s[0]);
            receiverSocket = s[1];
            channel = track(UnixFrameChannel.open(os, s[1], ChannelLimits.DEFAULT));
            channel.start(rec);
        }

        void send(byte[] bytes, List<OwnedFd> fds) {
            assertEquals(bytes.length, os.unix().sendmsg(raw, ByteBuffer.wrap(bytes), fds), "raw bytes fit the socket");
        }

        FramingException failure() {
            os.reactor().runUntilIdle();
            assertEquals(1, rec.closes.get(), "the channel closes on a framing violation");
            assertEquals(0, rec.frames.size(), "a violating frame is never delivered");
            return assertInstanceOf(FramingException.class, rec.cause, "the cause is a FramingException");
        }
    }

    private List<OwnedFd> pipes(int n) {
        List<OwnedFd> fds = new ArrayList<>();
        while (fds.size() < n) {
            for (OwnedFd fd : os.fds().pipe()) {
                track(fd);
                if (fds.size() < n) {
                    fds.add(fd);
                }
            }
        }
        return fds;
    }

    private void assertSameFiles(List<OwnedFd> sent, List<OwnedFd> got, String contract) {
        assertEquals(sent.size(), got.size(), contract + ": fd count");
        for (int i = 0; i < sent.size(); i++) {
            assertTrue(os.fds().sameOpenFile(sent.get(i), got.get(i)), contract + ": fd " + i + " is the file sent there");
        }
    }

    private static byte[] header(int magic, int length, int fds) {
        return ByteBuffer.allocate(12).putInt(magic).putInt(length).putInt(fds).array();
    }

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed + i * 7);
        }
        return b;
    }

    // ------------------------------------------------------------------ short reads and writes

    @ParameterizedTest(name = "at most {0} bytes per recvmsg")
    @ValueSource(ints = {1, 5, 13})
    void shortReadsSplitHeaderMarkersAndPayloadAnywhere(int bytesPerRecvmsg) {
        os.faults().maxBytesPerRecvmsg(bytesPerRecvmsg);
        Ends e = new Ends().start();
        int[] fdCounts = {0, 1, 253, 254, 600, 0, 3};
        List<List<OwnedFd>> sent = new ArrayList<>();
        for (int i = 0; i < fdCounts.length; i++) {
            List<OwnedFd> fds = pipes(fdCounts[i]);
            sent.add(fds);
            e.a.send(bytes(40 + i, i), fds);
        }
        assertTrue(os.reactor().runUntil(() -> e.rb.frames.size() == fdCounts.length), "every frame arrives through short reads");
        for (int i = 0; i < fdCounts.length; i++) {
            try (Frame f = e.rb.frames.poll()) {
                assertArrayEquals(bytes(40 + i, i), f.payload(), "frame " + i + " payload survives short reads");
                assertSameFiles(sent.get(i), f.fds(), "frame " + i + " fds survive short reads");
            }
        }
        assertNull(e.rb.cause, "short reads are not errors");
    }

    @Test
    void zeroLengthPayloadWithFiveFdChunks() {
        os.faults().maxBytesPerRecvmsg(1);
        Ends e = new Ends().start();
        List<OwnedFd> fds = pipes(4 * 253 + 1);
        assertEquals(5, UnixFrameChannel.chunks(fds.size()), "1013 fds take 5 chunks");
        e.a.send(new byte[0], fds);
        assertTrue(os.reactor().runUntil(() -> e.rb.frames.size() == 1), "the frame arrives");
        try (Frame f = e.rb.frames.poll()) {
            assertEquals(0, f.payload().length, "no payload");
            assertSameFiles(fds, f.fds(), "1013 fds over 5 chunk boundaries keep their order");
        }
    }

    @Test
    void tinySocketBufferMakesEverySendmsgPartial() {
        os.kernel().socketBufferBytes(7);
        Ends e = new Ends().start();
        List<OwnedFd> fds = pipes(300);
        CompletableFuture<Void> done = e.a.send(bytes(50, 3), fds).toCompletableFuture();
        assertFalse(done.isDone(), "a 64-byte frame cannot be in a 7-byte socket buffer at once");
        for (OwnedFd fd : fds) {
            fd.close();
        }
        assertTrue(os.reactor().runUntil(() -> e.rb.frames.size() == 1 && done.isDone()),
                "the frame arrives in 7-byte pieces although the caller closed its fds (the channel kept duplicates)");
        try (Frame f = e.rb.frames.poll()) {
            assertArrayEquals(bytes(50, 3), f.payload(), "payload intact");
            assertEquals(300, f.fds().size(), "every fd arrives");
            for (OwnedFd fd : f.fds()) {
                assertEquals(FdKind.PIPE, os.fds().kind(fd), "each received fd is a pipe end");
            }
        }
    }

    @Test
    void sendFromAnotherThreadIsQueuedAndFlushedByTheReactor() throws Exception {
        Ends e = new Ends().start();
        List<OwnedFd> kept = pipes(40);
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        AtomicReference<Throwable> trouble = new AtomicReference<>();
        CountDownLatch sent = new CountDownLatch(1);
        Thread sender = new Thread(() -> {
            try {
                assertFalse(os.reactor().inReactorThread(), "the sender thread is not the reactor thread");
                for (int i = 0; i < kept.size(); i++) {
                    try (OwnedFd mine = kept.get(i).dup()) {
                        sends.add(e.a.send(bytes(8, i), List.of(mine)).toCompletableFuture());
                    }
                }
            } catch (Throwable t) {
                trouble.set(t);
            } finally {
                sent.countDown();
            }
        }, "sender");
        sender.start();
        assertTrue(sent.await(10, TimeUnit.SECONDS), "the sender thread finishes");
        sender.join();
        assertNull(trouble.get(), "the sender thread must not fail");
        assertEquals(0, e.rb.frames.size(), "nothing moves before the reactor runs: off-thread sends are queued");
        assertTrue(os.reactor().runUntil(() -> e.rb.frames.size() == kept.size()), "the reactor flushes every queued frame");
        for (int i = 0; i < kept.size(); i++) {
            try (Frame f = e.rb.frames.poll()) {
                assertArrayEquals(bytes(8, i), f.payload(), "frames keep the sender's order");
                assertSameFiles(List.of(kept.get(i)), f.fds(), "frame " + i + " carries the file its sender dup'ed");
            }
            assertTrue(sends.get(i).isDone() && !sends.get(i).isCompletedExceptionally(), "send " + i + " completes");
        }
    }

    // ------------------------------------------------------------------ violations

    @Test
    void strayFdOnAHeaderAnnouncingNoneIsRejected() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 0, 0), pipes(1));
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("announcing 0 fds must carry 0") && e.getMessage().contains("1 arrived"),
                "the message says what was expected and what arrived: " + e.getMessage());
    }

    @Test
    void headerMissingSomeOfItsFdsIsRejected() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 0, 2), pipes(1));
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("must carry 2") && e.getMessage().contains("but 1 arrived"),
                "the message says what was expected and what arrived: " + e.getMessage());
    }

    @Test
    void fdsOnPayloadBytesAreStray() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 4, 0), List.of());
        r.send(new byte[] {1, 2, 3, 4}, pipes(1));
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("1 stray fds arrived on payload bytes"), "names the stray fds: " + e.getMessage());
    }

    @Test
    void wrongMarkerByteIsRejected() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 0, 254), pipes(253));
        r.send(new byte[] {0}, pipes(1));
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("fd chunk 2 of 2: expected marker byte 0xFD, got 0x00"), e.getMessage());
    }

    @Test
    void markerWithTheWrongFdCountIsRejected() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 0, 254), pipes(253));
        r.send(new byte[] {UnixFrameChannel.FD_MARKER}, pipes(2));
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("must carry 1 fds, but 2 arrived"), e.getMessage());
    }

    @Test
    void peerClosingInsideTheHeaderIsMidFrame() {
        Raw r = new Raw();
        r.send(new byte[] {0x4C, 0x54, 0x46}, List.of());
        r.raw.close();
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("peer closed mid-frame after 3 of at least 12 bytes"), e.getMessage());
    }

    @Test
    void emfileWhileReceivingFdsClosesTheChannelAndWhatArrived() {
        Raw r = new Raw();
        os.faults().truncateFdsOnNextRecvmsg(r.receiverSocket);
        r.send(header(UnixFrameChannel.MAGIC, 0, 3), pipes(3));
        FramingException e = r.failure();
        assertTrue(e.getMessage().contains("MSG_CTRUNC") && e.getMessage().contains("EMFILE"), e.getMessage());
    }

    @Test
    void aReceiveFailureWritesTheLastWordsBeforeTheClose() {
        Ends e = new Ends();
        e.b.lastWordsOnReceiveFailure(cause -> ("cannot take it: " + cause.getClass().getSimpleName())
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        e.start();
        os.faults().truncateFdsOnNextRecvmsg(e.sockets[1]);
        e.a.send(bytes(10, 1), pipes(3));
        os.reactor().runUntilIdle();
        assertEquals(1, e.rb.closes.get(), "the receiver closes on the truncated frame");
        assertInstanceOf(FramingException.class, e.rb.cause);
        assertEquals(1, e.ra.frames.size(), "the peer hears why before the close");
        assertEquals("cannot take it: FdsTruncatedException", new String(e.ra.frames.peek().payload(),
                java.nio.charset.StandardCharsets.UTF_8));
        assertEquals(1, e.ra.closes.get(), "then the close");
    }

    @Test
    void lastWordsThatThrowAnErrorStillLeaveTheChannelClosed() {
        // at the descriptor limit a class the last words need may fail to load: a LinkageError, not a RuntimeException
        Ends e = new Ends();
        e.b.lastWordsOnReceiveFailure(cause -> {
            throw new NoClassDefFoundError("dev/livetap/NotLoadable");
        });
        e.start();
        os.faults().truncateFdsOnNextRecvmsg(e.sockets[1]);
        e.a.send(bytes(10, 1), pipes(3));
        os.reactor().runUntilIdle();
        assertEquals(1, e.rb.closes.get(), "a receive failure closes the channel even when its last words throw an Error");
        assertInstanceOf(FdsTruncatedException.class, e.rb.cause, "the receive failure is the close's cause");
        assertFalse(e.b.isOpen());
        assertEquals(1, e.ra.closes.get(), "the peer sees the close");
        assertTrue(e.ra.frames.isEmpty(), "no words could be built, so none arrive");
    }

    @Test
    void aFrameHandlerThatThrowsAnErrorClosesTheChannel() {
        Ends e = new Ends();
        AtomicInteger closes = new AtomicInteger();
        AtomicReference<Throwable> cause = new AtomicReference<>();
        e.a.start(e.ra);
        e.b.start(new FrameChannel.FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                frame.close();
                throw new NoClassDefFoundError("dev/livetap/NotLoadable");
            }

            @Override
            public void onClosed(Throwable c) {
                cause.set(c);
                closes.incrementAndGet();
            }
        });
        e.a.send(bytes(10, 1), pipes(2));
        os.reactor().runUntilIdle();
        assertEquals(1, closes.get(), "a handler's Error closes the channel as a RuntimeException does");
        assertInstanceOf(NoClassDefFoundError.class, cause.get());
        assertEquals(1, e.ra.closes.get(), "the peer sees the close");
    }

    @Test
    void corruptedMagicInFlightIsRejected() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 0, 0), List.of());
        assertTrue(os.faults().corruptInFlight(r.receiverSocket, 0, 0xFF), "a byte is in flight to corrupt");
        assertTrue(r.failure().getMessage().contains("bad frame magic 0xB3544631"), "the corrupted magic is named");
    }

    @Test
    void streamTruncatedInFlightIsMidFrame() {
        Raw r = new Raw();
        r.send(header(UnixFrameChannel.MAGIC, 10, 0), List.of());
        r.send(new byte[10], List.of());
        os.faults().truncateInFlight(r.receiverSocket, 15);
        assertTrue(r.failure().getMessage().contains("peer closed mid-frame after 15 of 22 bytes"), "truncation is reported");
    }

    @Test
    void droppedConnectionIsANativeError() {
        Ends e = new Ends().start();
        e.a.send(bytes(10, 1), List.of());
        os.faults().dropConnection(e.sockets[1]);
        os.reactor().runUntilIdle();
        assertEquals(1, e.rb.closes.get(), "the receiver's channel ends");
        NativeException n = assertInstanceOf(NativeException.class, e.rb.cause, "a reset is a NativeException");
        assertEquals(104, n.errno(), "ECONNRESET: " + n.getMessage());
        assertEquals(1, e.ra.closes.get(), "the sender's channel ends too");
    }

    // ------------------------------------------------------------------ lifecycle

    @Test
    void handlerExceptionClosesTheChannelWithThatCause() {
        OwnedFd[] s = os.unix().socketPair();
        FrameChannel a = track(UnixFrameChannel.open(os, s[0], ChannelLimits.DEFAULT));
        FrameChannel b = track(UnixFrameChannel.open(os, s[1], ChannelLimits.DEFAULT));
        a.start(track(new Recorder()));
        IllegalStateException boom = new IllegalStateException("handler failed");
        AtomicReference<Throwable> cause = new AtomicReference<>();
        AtomicInteger closes = new AtomicInteger();
        b.start(new FrameChannel.FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                frame.close();
                throw boom;
            }

            @Override
            public void onClosed(Throwable c) {
                cause.set(c);
                closes.incrementAndGet();
            }
        });
        a.send(bytes(4, 0), List.of());
        a.send(bytes(4, 1), List.of());
        os.reactor().runUntilIdle();
        assertSame(boom, cause.get(), "a throwing handler closes the channel with its exception");
        assertEquals(1, closes.get(), "onClosed exactly once");
        assertFalse(b.isOpen(), "the channel is closed");
    }

    @Test
    void hangupWhilePausedDoesNotSpinAndResumeDeliversTheRest() {
        Ends e = new Ends().start();
        e.b.pauseReading();
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            sends.add(e.a.send(bytes(16, i), pipes(1)).toCompletableFuture());
        }
        assertTrue(os.reactor().runUntil(() -> sends.stream().allMatch(CompletableFuture::isDone)),
                "the frames reach the kernel (close would fail sends still queued)");
        e.a.close();
        os.reactor().runUntilIdle();
        assertEquals(0, e.rb.frames.size(), "a paused channel delivers nothing, even after the peer hung up");
        assertEquals(0, e.rb.closes.get(), "a paused channel does not see the end before the frames in front of it");
        e.b.resumeReading();
        os.reactor().runUntilIdle();
        assertEquals(3, e.rb.frames.size(), "after resume the frames in the kernel arrive");
        assertEquals(1, e.rb.closes.get(), "then the orderly end");
        assertNull(e.rb.cause, "EOF at a boundary is orderly");
    }

    @Test
    void sendAfterThePeerHungUpDuringPauseFailsInsteadOfWaitingForever() throws InterruptedException {
        Ends e = new Ends().start();
        e.b.pauseReading();
        e.a.pauseReading();
        e.b.close();
        os.reactor().runUntilIdle();
        assertEquals(0, e.ra.closes.get(), "a paused channel does not notice the hang-up yet");
        AtomicReference<CompletableFuture<Void>> sent = new AtomicReference<>();
        Thread other = new Thread(() -> sent.set(e.a.send(bytes(4, 0), List.of()).toCompletableFuture()), "late-sender");
        other.start();
        other.join();
        CompletableFuture<Void> late = sent.get();
        // An off-reactor send with nothing queued writes at once (no hand-off to the reactor thread):
        // the peer is gone, so it fails right there (EPIPE) instead of waiting on the parked channel.
        os.reactor().runUntilIdle();
        assertTrue(late.isCompletedExceptionally(), "a send to a peer that is gone fails (EPIPE), it never hangs");
        assertEquals(0, e.ra.closes.get(), "a paused channel still does not see the end before what is in front of it");
        e.a.resumeReading();
        os.reactor().runUntilIdle();
        assertEquals(1, e.ra.closes.get(), "once reading resumes, the channel ends");
        assertInstanceOf(NativeException.class, e.ra.cause, "with the sendmsg error: " + e.ra.cause);
    }

    /**
     * Chaos finding: a target frozen by SIGSTOP found the whole stream and then the source's
     * "failed" answer in its socket; its own "loaded" failed with EPIPE, and the channel closed at
     * once, dropping that answer unread. A failed write must not lose what the peer already sent.
     */
    @Test
    void aFailedWriteStillDeliversWhatThePeerSentBeforeItWent() {
        Ends e = new Ends().start();
        e.b.send(bytes(8, 1), List.of());
        e.b.send(bytes(8, 2), pipes(1));
        e.b.close(); // the peer answered and went away; nothing has been read on our side yet
        CompletableFuture<Void> late = e.a.send(bytes(4, 0), List.of()).toCompletableFuture();
        assertTrue(late.isCompletedExceptionally(), "writing to a peer that is gone fails at once (EPIPE)");
        CompletableFuture<Void> after = e.a.send(bytes(4, 3), List.of()).toCompletableFuture();
        assertTrue(after.isCompletedExceptionally(), "and so does every later send");
        assertTrue(e.a.isOpen(), "the channel stays open for reading");
        os.reactor().runUntilIdle();
        assertEquals(2, e.ra.frames.size(), "both frames the peer sent before it went are delivered");
        assertEquals(1, e.ra.frames.stream().toList().get(1).fds().size(), "with their fds");
        assertEquals(1, e.ra.closes.get(), "then the end, once");
        NativeException n = assertInstanceOf(NativeException.class, e.ra.cause, "the cause is the failed write: " + e.ra.cause);
        assertEquals(32, n.errno(), "EPIPE: " + n.getMessage());
        assertFalse(e.a.isOpen(), "closed at the end of the stream");
    }

    @Test
    void closeBeforeStartReportsAtStart() {
        OwnedFd[] s = os.unix().socketPair();
        track(s[0]);
        FrameChannel c = UnixFrameChannel.open(os, s[1], ChannelLimits.DEFAULT);
        c.close();
        Recorder r = track(new Recorder());
        c.start(r);
        assertEquals(1, r.closes.get(), "a channel closed before start reports its end at start");
        assertNull(r.cause, "a local close is orderly");
    }

    @Test
    void framesWaitInTheKernelUntilStart() {
        Ends e = new Ends();
        e.a.start(e.ra);
        e.a.send(bytes(4, 9), List.of());
        os.reactor().runUntilIdle();
        e.b.start(e.rb);
        os.reactor().runUntilIdle();
        assertEquals(1, e.rb.frames.size(), "a frame sent before start is delivered after start");
    }
}
