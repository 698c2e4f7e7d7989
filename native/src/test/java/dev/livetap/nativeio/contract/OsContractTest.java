package dev.livetap.nativeio.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.FramingException;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Behaviour every {@link Os} must share, run once per implementation (in-memory OS, real kernel)
 * so the fake cannot drift from the kernel. A subclass supplies the OS, a way to open TAP queues
 * (the real one inside a network namespace), a way to skip TAP tests with the reason, and
 * {@link #drive}: the in-memory OS runs its reactor until the condition holds, the real kernel
 * waits for its reactor thread with bounded polling.
 *
 * <p>After every test, {@link OwnedFd#openCount()} and {@code countProcessFds()} must be back to
 * where they started: no test, and no rejected frame, leaks a descriptor.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
public abstract class OsContractTest {
    /** How long {@link #drive} may take for one condition. */
    protected static final Duration WAIT_MAX = Duration.ofSeconds(10);
    /** How long a real-kernel {@link #drive} with a condition that never holds lets I/O settle. */
    protected static final Duration SETTLE = Duration.ofMillis(300);
    private static final String TAP = "ltc0";

    private Os os;
    private int ownedAtStart;
    private int processFdsAtStart;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    /** The implementation under test, made before each test. */
    protected abstract Os createOs();

    /** Undoes {@link #createOs()} after the fd checks; the default keeps the OS (a shared real one). */
    protected void releaseOs(Os released) {
    }

    /** Skips the calling test, with the reason, where TAP devices cannot be made. */
    protected abstract void assumeTapAvailable();

    /** Opens {@code n} queues of TAP {@code name} (the real kernel: inside the test's network namespace). */
    protected abstract List<OwnedFd> openTapQueues(String name, int n, int flags);

    /**
     * Makes I/O progress until {@code until} holds or {@code max} passes.
     *
     * @return whether {@code until} holds
     */
    protected abstract boolean drive(BooleanSupplier until, Duration max);

    /**
     * True when the process's descriptor count is back to its start. The in-memory OS is exact; a
     * real JVM may close an unrelated descriptor of its own meanwhile, so there only "no more than
     * at the start" can be asked (OwnedFd.openCount stays exact on both).
     */
    protected boolean processFdCountIsExact() {
        return true;
    }

    /** What {@link #assertProcessFds} compares with: here the count of the OS's descriptor table. */
    protected Object processFdsMark() {
        return os.fds().countProcessFds();
    }

    /**
     * The descriptor table changed by {@code expectedChange} since {@code mark} (exact where the count
     * is exact; a real JVM checks that no descriptor was added instead: see {@code JnaOsContractTest}).
     */
    protected void assertProcessFds(Object mark, int expectedChange, String what) {
        assertEquals((int) mark + expectedChange, os.fds().countProcessFds(), what);
    }

    private boolean processFdsSettled() {
        int now = os.fds().countProcessFds() - runtimeFdsOpenedSinceStart();
        return processFdCountIsExact() ? now == processFdsAtStart : now <= processFdsAtStart;
    }

    /**
     * Descriptors the runtime itself opened since the test began, none of them a test's to close: none here; a
     * real JVM opens a class path jar the first time any thread loads a class from it.
     */
    protected int runtimeFdsOpenedSinceStart() {
        return 0;
    }

    /** The descriptors opened since the test began, for a failure message ("" where the OS cannot say). */
    protected String describeFdsOpenedSinceStart() {
        return "";
    }

    protected final Os os() {
        return os;
    }

    @BeforeEach
    final void recordFdCounts() {
        os = createOs();
        ownedAtStart = OwnedFd.openCount();
        processFdsAtStart = os.fds().countProcessFds();
    }

    @AfterEach
    final void everyFdClosed() throws Exception {
        try {
            Collections.reverse(toClose);
            for (AutoCloseable c : toClose) {
                c.close();
            }
            toClose.clear();
            drive(() -> OwnedFd.openCount() == ownedAtStart && processFdsSettled(), WAIT_MAX);
            assertEquals(ownedAtStart, OwnedFd.openCount(),
                    "every fd a test opens or receives must be closed again (OwnedFd.openCount back to its start)");
            assertTrue(processFdsSettled(), "no descriptor may leak outside OwnedFd (countProcessFds back to its start "
                    + processFdsAtStart + ", now " + os.fds().countProcessFds() + ")" + describeFdsOpenedSinceStart());
        } finally {
            releaseOs(os);
        }
    }

    // ------------------------------------------------------------------ helpers

    protected final <T extends AutoCloseable> T track(T c) {
        toClose.add(c);
        return c;
    }

    protected final OwnedFd[] track(OwnedFd[] fds) {
        for (OwnedFd fd : fds) {
            track(fd);
        }
        return fds;
    }

    protected final void awaitThat(String contract, BooleanSupplier until) {
        assertTrue(drive(until, WAIT_MAX), contract);
    }

    /** Lets queued I/O happen when there is nothing to wait for. */
    protected final void settle() {
        drive(() -> false, SETTLE);
    }

    /** Collects what a channel delivers; closes undelivered frames at the end of the test. */
    protected static final class Recorder implements FrameChannel.FrameHandler, AutoCloseable {
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

        Frame take() {
            Frame f = frames.poll();
            assertTrue(f != null, "a frame was expected");
            return f;
        }

        @Override
        public void close() {
            Frame f;
            while ((f = frames.poll()) != null) {
                f.close();
            }
        }
    }

    /** Two started channels over one socketpair: a (limits default) and b (limits {@code bLimits}). */
    protected final class Pair {
        final FrameChannel a;
        final FrameChannel b;
        final Recorder ra = track(new Recorder());
        final Recorder rb = track(new Recorder());

        Pair(ChannelLimits bLimits) {
            OwnedFd[] ends = os.unix().socketPair();
            a = track(UnixFrameChannel.open(os, ends[0], ChannelLimits.DEFAULT));
            b = track(UnixFrameChannel.open(os, ends[1], bLimits));
            a.start(ra);
            b.start(rb);
        }
    }

    /** A raw socket end (sender) and a started channel on the other end (receiver). */
    protected final class RawToChannel {
        final OwnedFd raw;
        final FrameChannel channel;
        final Recorder recorder = track(new Recorder());

        RawToChannel(ChannelLimits limits) {
            OwnedFd[] ends = os.unix().socketPair();
            raw = track(ends[0]);
            channel = track(UnixFrameChannel.open(os, ends[1], limits));
            channel.start(recorder);
        }
    }

    /** {@code n} distinct open files: the ends of n/2 pipes (n even) or one more. */
    protected final List<OwnedFd> distinctFds(int n) {
        List<OwnedFd> fds = new ArrayList<>();
        while (fds.size() < n) {
            OwnedFd[] p = track(os.fds().pipe());
            fds.add(p[0]);
            if (fds.size() < n) {
                fds.add(p[1]);
            } else {
                p[1].close();
            }
        }
        return fds;
    }

    protected final void assertSameFilesInOrder(List<OwnedFd> sent, List<OwnedFd> received, String contract) {
        assertEquals(sent.size(), received.size(), contract + ": fd count");
        for (int i = 0; i < sent.size(); i++) {
            assertTrue(os.fds().sameOpenFile(sent.get(i), received.get(i)),
                    contract + ": fd " + i + " must be the same open file as the one sent at position " + i);
            if (sent.size() > 1) {
                assertFalse(os.fds().sameOpenFile(sent.get((i + 1) % sent.size()), received.get(i)),
                        contract + ": fd " + i + " must not be the file sent at another position");
            }
        }
    }

    private static byte[] payload(int index, int size) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (index * 31 + i);
        }
        if (size >= 4) {
            ByteBuffer.wrap(b).putInt(0, index);
        }
        return b;
    }

    private static ByteBuffer header(int magic, int length, int fds) {
        return ByteBuffer.allocate(UnixFrameChannel.HEADER_BYTES).putInt(magic).putInt(length).putInt(fds).flip();
    }

    // ------------------------------------------------------------------ framing round trips

    @ParameterizedTest(name = "{0} fds in one frame")
    @ValueSource(ints = {0, 1, 253, 254, 600})
    void frameRoundTripKeepsEveryFdInOrder(int fdCount) {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        List<OwnedFd> sent = distinctFds(fdCount);
        byte[] body = payload(7, 1000);
        CompletableFuture<Void> done = p.a.send(body, sent).toCompletableFuture();

        awaitThat("a frame with " + fdCount + " fds must arrive whole", () -> p.rb.frames.size() == 1);
        try (Frame f = p.rb.take()) {
            assertArrayEquals(body, f.payload(), "the payload must arrive unchanged");
            assertSameFilesInOrder(sent, f.fds(), "fds must arrive with their frame, in the order sent");
            for (OwnedFd fd : f.fds()) {
                assertEquals(FdKind.PIPE, os.fds().kind(fd), "a received pipe end is still a pipe");
            }
        }
        awaitThat("send completes once the frame is in the kernel", done::isDone);
        assertFalse(done.isCompletedExceptionally(), "a delivered frame's send must not fail");
        assertNull(p.rb.cause, "no error on a healthy channel");
    }

    @Test
    void fdLessAndFdCarryingFramesInterleavedKeepEachFdWithItsOwnFrame() {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        int frames = 30;
        List<List<OwnedFd>> sent = new ArrayList<>();
        for (int i = 0; i < frames; i++) {
            List<OwnedFd> fds = i % 3 == 0 ? List.of() : distinctFds(1 + i % 4);
            sent.add(fds);
            p.a.send(payload(i, 5 + i * 17), fds);
        }
        awaitThat("all 30 frames arrive", () -> p.rb.frames.size() == frames);
        for (int i = 0; i < frames; i++) {
            try (Frame f = p.rb.take()) {
                assertArrayEquals(payload(i, 5 + i * 17), f.payload(), "frames arrive in order, unchanged");
                assertSameFilesInOrder(sent.get(i), f.fds(),
                        "frame " + i + " must carry exactly its own fds, never its neighbour's (the receiver reads no further than the frame's end)");
            }
        }
    }

    @Test
    void zeroLengthPayloadCarriesFds() {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        List<OwnedFd> sent = distinctFds(3);
        p.a.send(new byte[0], sent);
        p.a.send(new byte[0], List.of());
        awaitThat("two empty frames arrive", () -> p.rb.frames.size() == 2);
        try (Frame f = p.rb.take(); Frame g = p.rb.take()) {
            assertEquals(0, f.payload().length, "an empty payload stays empty");
            assertSameFilesInOrder(sent, f.fds(), "an empty frame still carries its fds");
            assertEquals(0, g.fds().size(), "an fd-less empty frame carries nothing");
        }
    }

    // ------------------------------------------------------------------ rejected frames

    @Test
    void oversizeFrameIsRejectedAndItsFdsClosed() {
        Pair p = new Pair(new ChannelLimits(64, 16));
        List<OwnedFd> sent = distinctFds(2);
        Object before = processFdsMark();
        CompletableFuture<Void> done = p.a.send(new byte[100], sent).toCompletableFuture();
        // The sender, which is reading too, then sees end of stream and closes its end as well.
        awaitThat("an oversize frame closes the receiving channel, then the sender sees end of stream",
                () -> done.isDone() && p.rb.closes.get() == 1 && p.ra.closes.get() == 1);
        FramingException e = assertInstanceOf(FramingException.class, p.rb.cause, "the cause is a FramingException");
        assertTrue(e.getMessage().contains("100") && e.getMessage().contains("maxFrameBytes 64"),
                "the message names the size and the limit: " + e.getMessage());
        assertEquals(0, p.rb.frames.size(), "a rejected frame is never delivered");
        assertProcessFds(before, -2, "a rejected frame's fds are closed: only the two sockets go, no received fd stays");
        assertFalse(p.b.isOpen(), "the rejecting channel is closed");
    }

    @Test
    void frameWithTooManyFdsIsRejectedAndItsFdsClosed() {
        Pair p = new Pair(new ChannelLimits(1024, 2));
        List<OwnedFd> sent = distinctFds(3);
        p.a.send(new byte[4], sent);
        awaitThat("too many fds close the receiving channel", () -> p.rb.closes.get() == 1);
        FramingException e = assertInstanceOf(FramingException.class, p.rb.cause, "the cause is a FramingException");
        assertTrue(e.getMessage().contains("maxFdsPerFrame 2"), "the message names the limit: " + e.getMessage());
        assertEquals(0, p.rb.frames.size(), "a rejected frame is never delivered");
    }

    @Test
    void badMagicIsRejectedAndTheFdOnItClosed() {
        RawToChannel r = new RawToChannel(ChannelLimits.DEFAULT);
        List<OwnedFd> fd = distinctFds(1);
        Object before = processFdsMark();
        ByteBuffer garbage = ByteBuffer.wrap("NOT A FRAME!".getBytes(StandardCharsets.US_ASCII));
        assertEquals(12, os.unix().sendmsg(r.raw, garbage, fd), "12 bytes fit an empty socket");
        awaitThat("bad magic closes the channel", () -> r.recorder.closes.get() == 1);
        FramingException e = assertInstanceOf(FramingException.class, r.recorder.cause, "bad magic is a FramingException");
        assertTrue(e.getMessage().contains("magic"), "the message says what was wrong: " + e.getMessage());
        assertProcessFds(before, -1, "the fd that rode on a bad header is closed (only the channel's socket also goes)");
    }

    @Test
    void peerClosedMidFrameIsAFramingError() {
        RawToChannel r = new RawToChannel(ChannelLimits.DEFAULT);
        ByteBuffer partial = ByteBuffer.allocate(22).put(header(UnixFrameChannel.MAGIC, 100, 0)).put(new byte[10]).flip();
        assertEquals(22, os.unix().sendmsg(r.raw, partial, List.of()), "22 bytes fit an empty socket");
        r.raw.close();
        awaitThat("EOF inside a frame closes the channel", () -> r.recorder.closes.get() == 1);
        FramingException e = assertInstanceOf(FramingException.class, r.recorder.cause, "EOF mid-frame is a FramingException");
        assertTrue(e.getMessage().contains("peer closed mid-frame after 22 of 112 bytes"),
                "the message says how far the frame got: " + e.getMessage());
    }

    @Test
    void endOfStreamAtAFrameBoundaryIsAnOrderlyEnd() {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        CompletableFuture<Void> done = p.a.send(payload(1, 10), List.of()).toCompletableFuture();
        awaitThat("the frame is in the kernel", done::isDone);
        p.a.close();
        awaitThat("the receiver sees the end", () -> p.rb.closes.get() == 1);
        assertEquals(1, p.rb.frames.size(), "the frame before the end is delivered");
        assertNull(p.rb.cause, "EOF at a frame boundary is an orderly end (onClosed(null))");
        assertEquals(1, p.ra.closes.get(), "the closing side's onClosed runs once");
        assertNull(p.ra.cause, "a local close is an orderly end");
        p.a.close();
        assertEquals(1, p.ra.closes.get(), "close is idempotent: onClosed exactly once");
    }

    // ------------------------------------------------------------------ back-pressure and close

    @Test
    void pausedReaderExertsBackPressureAndLosesNothing() {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        p.b.pauseReading();
        int frames = 40;
        int size = 64 * 1024;
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        List<List<OwnedFd>> sent = new ArrayList<>();
        for (int i = 0; i < frames; i++) {
            List<OwnedFd> fds = i % 8 == 0 ? distinctFds(2) : List.of();
            sent.add(fds);
            sends.add(p.a.send(payload(i, size), fds).toCompletableFuture());
        }
        settle();
        assertEquals(0, p.rb.frames.size(), "a paused channel delivers no frame");
        assertTrue(sends.stream().anyMatch(f -> !f.isDone()),
                "a paused reader must push back: 2.5 MiB cannot all be in the kernel's socket buffer");
        p.b.resumeReading();
        awaitThat("after resume every frame arrives and every send completes",
                () -> p.rb.frames.size() == frames && sends.stream().allMatch(CompletableFuture::isDone));
        for (int i = 0; i < frames; i++) {
            try (Frame f = p.rb.take()) {
                assertArrayEquals(payload(i, size), f.payload(), "frame " + i + " arrives whole and in order");
                assertSameFilesInOrder(sent.get(i), f.fds(), "frame " + i + " keeps its own fds");
            }
            assertFalse(sends.get(i).isCompletedExceptionally(), "no send fails on a healthy channel");
        }
    }

    @Test
    void adoptingANumberThatIsNotOpenFailsWithEbadfAndOwnsNothing() {
        int owned = OwnedFd.openCount();
        NativeException e = assertThrows(NativeException.class, () -> os().fds().adopt(1_000_000),
                "an embedder's fd number must be open to be adopted");
        assertEquals(9, e.errno(), "EBADF: " + e.getMessage());
        assertThrows(NativeException.class, () -> os().fds().adopt(-1));
        assertEquals(owned, OwnedFd.openCount(), "a refused adoption owns nothing");
    }

    @Test
    void closeFailsPendingSendsAndReportsOnce() {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        p.b.pauseReading();
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            sends.add(p.a.send(payload(i, 256 * 1024), distinctFds(1)).toCompletableFuture());
        }
        settle();
        assertTrue(sends.stream().anyMatch(f -> !f.isDone()), "some sends wait for a paused reader");
        p.a.close();
        p.a.close();
        assertTrue(sends.stream().allMatch(CompletableFuture::isDone), "close completes every pending send");
        assertTrue(sends.stream().anyMatch(CompletableFuture::isCompletedExceptionally),
                "sends that never reached the kernel fail");
        assertEquals(1, p.ra.closes.get(), "onClosed exactly once, however often close is called");
        assertThrows(Exception.class, () -> p.a.send(new byte[1], List.of()).toCompletableFuture().join(),
                "a send on a closed channel fails");
    }

    // ------------------------------------------------------------------ raw sendmsg / recvmsg

    @Test
    void recvmsgWithTooLittleFdRoomClosesWhatArrived() {
        OwnedFd[] ends = track(os.unix().socketPair());
        List<OwnedFd> fds = distinctFds(5);
        assertEquals(1, os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {1}), fds), "one byte carries 5 fds");
        Object before = processFdsMark();
        List<OwnedFd> out = new ArrayList<>();
        FramingException e = assertThrows(FramingException.class,
                () -> os.unix().recvmsg(ends[1], ByteBuffer.allocate(8), out, 2), "MSG_CTRUNC must be an error");
        assertTrue(e.getMessage().contains("MSG_CTRUNC"), "the message names MSG_CTRUNC: " + e.getMessage());
        assertTrue(out.isEmpty(), "a truncated recvmsg hands out no fds");
        assertProcessFds(before, 0, "the fds that did arrive with MSG_CTRUNC are closed");
    }

    @Test
    void recvmsgOnAnEmptySocketReturnsZero() {
        OwnedFd[] ends = track(os.unix().socketPair());
        List<OwnedFd> out = new ArrayList<>();
        assertEquals(0, os.unix().recvmsg(ends[1], ByteBuffer.allocate(8), out, 4), "EAGAIN is 0, not an error");
        assertTrue(out.isEmpty(), "no fds without data");
    }

    @Test
    void recvmsgAfterPeerCloseIsEndOfStream() {
        OwnedFd[] ends = os.unix().socketPair();
        track(ends[1]);
        ends[0].close();
        assertEquals(-1, os.unix().recvmsg(ends[1], ByteBuffer.allocate(8), new ArrayList<>(), 4), "EOF is -1");
    }

    @Test
    void sendmsgToAClosedPeerFailsWithEpipe() {
        OwnedFd[] ends = os.unix().socketPair();
        track(ends[0]);
        ends[1].close();
        NativeException e = assertThrows(NativeException.class,
                () -> os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {1}), List.of()),
                "writing to a closed peer must fail, not vanish");
        assertEquals(32, e.errno(), "the errno is EPIPE: " + e.getMessage());
        assertTrue(e.getMessage().contains("sendmsg"), "the message names the call: " + e.getMessage());
    }

    @Test
    void moreThanScmMaxFdInOneSendmsgIsEinval() {
        OwnedFd[] ends = track(os.unix().socketPair());
        OwnedFd one = distinctFds(1).get(0);
        List<OwnedFd> fds = Collections.nCopies(UnixSockets.SCM_MAX_FD + 1, one);
        NativeException e = assertThrows(NativeException.class,
                () -> os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {1}), fds), "254 fds in one sendmsg");
        assertEquals(22, e.errno(), "the kernel refuses 254 fds with EINVAL: " + e.getMessage());
    }

    @Test
    void kernelMergesFdLessBytesWithTheNextFdCarryingMessageButNeverTwoFdCarryingOnes() {
        OwnedFd[] ends = track(os.unix().socketPair());
        List<OwnedFd> fds = distinctFds(2);
        os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {1, 2, 3}), List.of());
        os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {4}), List.of(fds.get(0)));
        os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {5}), List.of(fds.get(1)));
        os.unix().sendmsg(ends[0], ByteBuffer.wrap(new byte[] {6, 7}), List.of());
        List<OwnedFd> out = new ArrayList<>();
        ByteBuffer into = ByteBuffer.allocate(16);
        try {
            assertEquals(4, os.unix().recvmsg(ends[1], into, out, 8),
                    "a fd-less message's bytes and the next fd-carrying message come in one recvmsg");
            assertEquals(1, out.size(), "the fd-carrying message's fd hangs on that recvmsg");
            assertEquals(1, os.unix().recvmsg(ends[1], into, out, 8), "two fd-carrying messages never merge");
            assertEquals(2, out.size(), "the second message's fd comes with its own byte");
            assertEquals(2, os.unix().recvmsg(ends[1], into, out, 8), "the fd-less tail comes after");
            assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 6, 7}, Arrays.copyOf(into.array(), 7), "bytes in order");
            assertSameFilesInOrder(fds, out, "fds in order");
        } finally {
            OwnedFd.closeAll(out);
        }
    }

    @Test
    void peerCredentialsOfASocketpairAreOurOwn() {
        Pair p = new Pair(ChannelLimits.DEFAULT);
        assertEquals(p.a.peerCredentials(), p.b.peerCredentials(), "both ends of a socketpair see the same process");
    }

    // ------------------------------------------------------------------ TAP queues

    @Test
    void tapQueuesReportNameAndFlags() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 2, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        TunInfo info = os.tun().info(qs.get(1));
        assertEquals(TAP, info.name(), "TUNGETIFF names the device");
        assertEquals(TunFlags.TAP_VNET_MQ, info.flags(), "TUNGETIFF reports the flags of TUNSETIFF");
        assertFalse(info.detached(), "a fresh queue is attached");
        assertEquals(FdKind.TUN, os.fds().kind(qs.get(0)), "a TAP queue is char device 10:200");
        assertTrue(os.fds().isNonBlocking(qs.get(0)), "queues are opened non-blocking");
    }

    @Test
    void tunSetOffloadTakesKnownBitsRefusesUnknownOnesAndZeroClears() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 1, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        os.tun().setOffload(qs.get(0), TunFlags.TUN_F_CSUM | TunFlags.TUN_F_TSO4 | TunFlags.TUN_F_TSO6 | TunFlags.TUN_F_UFO);
        NativeException unknown = assertThrows(NativeException.class, () -> os.tun().setOffload(qs.get(0), 1 << 30),
                "a bit no kernel knows is refused");
        assertEquals(22, unknown.errno(), "EINVAL: " + unknown.getMessage());
        os.tun().setOffload(qs.get(0), 0);
    }

    @Test
    void detachedQueueReportsIffDetachQueue() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 2, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        os.tun().setQueueAttached(qs.get(1), false);
        assertEquals(TunFlags.TAP_VNET_MQ | TunFlags.IFF_DETACH_QUEUE, os.tun().info(qs.get(1)).flags(),
                "TUNGETIFF on a detached queue adds IFF_DETACH_QUEUE");
        assertFalse(os.tun().info(qs.get(0)).detached(), "detaching one queue leaves the others attached");
        NativeException again = assertThrows(NativeException.class, () -> os.tun().setQueueAttached(qs.get(1), false),
                "detaching a detached queue is refused");
        assertEquals(22, again.errno(), "EINVAL: " + again.getMessage());
        os.tun().setQueueAttached(qs.get(1), true);
        assertFalse(os.tun().info(qs.get(1)).detached(), "re-attaching clears IFF_DETACH_QUEUE");
    }

    @Test
    void the257thQueueFailsWithE2big() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 256, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        Object before = processFdsMark();
        NativeException.TooManyQueuesException e = assertThrows(NativeException.TooManyQueuesException.class,
                () -> openTapQueues(TAP, 1, TunFlags.TAP_VNET_MQ), "the kernel allows 256 queues per TAP");
        assertEquals(7, e.errno(), "E2BIG");
        assertTrue(e.getMessage().contains("ioctl(TUNSETIFF) on " + TAP + " queue 257: at most 256 queues per TAP device (E2BIG)"),
                "the message names call, device, queue number and errno: " + e.getMessage());
        assertProcessFds(before, 0, "a failed open closes the fd it opened");
    }

    @Test
    void secondOpenWithoutMultiQueueIsEinval() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 1, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        NativeException e = assertThrows(NativeException.class,
                () -> openTapQueues(TAP, 1, TunFlags.TAP_VNET_MQ & ~TunFlags.IFF_MULTI_QUEUE),
                "a single-queue open of a multiqueue TAP is refused");
        assertEquals(22, e.errno(), "EINVAL: " + e.getMessage());
    }

    @Test
    void vnetHeaderSizeIsPerDevice() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 2, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        assertEquals(10, os.tun().vnetHdrSize(qs.get(1)), "the default is sizeof(struct virtio_net_hdr)");
        os.tun().setVnetHdrSize(qs.get(0), 12);
        assertEquals(12, os.tun().vnetHdrSize(qs.get(1)), "TUNSETVNETHDRSZ on one queue changes every queue of the device");
    }

    @Test
    void kcmpTellsSameOpenFileFromDifferentFiles() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 2, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        OwnedFd dup = track(qs.get(0).dup());
        assertTrue(os.fds().sameOpenFile(qs.get(0), dup), "a dup refers to the same open file");
        assertFalse(os.fds().sameOpenFile(qs.get(0), qs.get(1)), "two queues are two open files");
        assertEquals(TAP, os.tun().info(dup).name(), "a dup is the same queue");
    }

    /** The order the NIC sorts received queue fds by (a file passed twice found in n log n calls). */
    @Test
    void kcmpOrdersOpenFilesConsistently() {
        assumeTapAvailable();
        List<OwnedFd> qs = openTapQueues(TAP, 4, TunFlags.TAP_VNET_MQ);
        qs.forEach(this::track);
        OwnedFd dup = track(qs.get(2).dup());
        assertEquals(0, os.fds().compareOpenFiles(qs.get(2), dup), "a dup compares equal");
        for (int i = 0; i < qs.size(); i++) {
            for (int j = 0; j < qs.size(); j++) {
                int c = os.fds().compareOpenFiles(qs.get(i), qs.get(j));
                assertEquals(i == j, c == 0, "queues " + i + " and " + j + ": equal only to itself");
                assertEquals(-c, os.fds().compareOpenFiles(qs.get(j), qs.get(i)), "antisymmetric");
                assertEquals(c, os.fds().compareOpenFiles(qs.get(i), qs.get(j)), "the same answer when asked again");
                assertTrue(c >= -1 && c <= 1, "-1, 0 or 1: " + c);
            }
        }
        List<OwnedFd> sorted = new java.util.ArrayList<>(qs);
        sorted.sort(os.fds()::compareOpenFiles);
        for (int k = 1; k < sorted.size(); k++) {
            assertEquals(-1, os.fds().compareOpenFiles(sorted.get(k - 1), sorted.get(k)), "a total order: sorting works");
        }
    }

    @Test
    void fstatKindsOfPipesAndSockets() {
        OwnedFd[] pipe = track(os.fds().pipe());
        OwnedFd[] sockets = track(os.unix().socketPair());
        assertEquals(FdKind.PIPE, os.fds().kind(pipe[0]), "a pipe read end is a FIFO");
        assertEquals(FdKind.PIPE, os.fds().kind(pipe[1]), "a pipe write end is a FIFO");
        assertEquals(FdKind.SOCKET, os.fds().kind(sockets[0]), "a socketpair end is a socket");
        assertTrue(os.fds().isNonBlocking(sockets[0]), "sockets are created non-blocking");
    }
}
