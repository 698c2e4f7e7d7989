package dev.livetap.nativeio;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one implementation of {@link FrameChannel}, written against {@link UnixSockets} and
 * {@link Reactor} so that it runs unchanged on the kernel and on the in-memory OS.
 *
 * <h2>Wire format (see docs/stream-format.md, "Framing layer")</h2>
 * <pre>
 * header, 12 bytes, big-endian:  magic u32 = 0x4C544631 ("LTF1") | payload length u32 | fd count u32
 * </pre>
 * A frame with {@code n} fds is sent in {@code c = max(1, ceil(n / 253))} fd chunks: the header goes
 * in one sendmsg carrying the first {@code min(n, 253)} fds; each further chunk is one marker byte
 * {@code 0xFD} in its own sendmsg carrying the next at most 253 fds. The payload shares the last
 * chunk's sendmsg. Every fd-carrying sendmsg thus has its own data byte, and the kernel never
 * merges two fd-carrying messages (stack.md).
 *
 * <p>The receiver reads exactly the 12 header bytes, then exactly {@code c - 1} marker bytes (one
 * recvmsg each), then exactly the payload bytes: it never reads past the end of the current frame,
 * because on SOCK_STREAM the kernel may merge a fd-less frame's bytes with the next fd-carrying
 * sendmsg and hand that sendmsg's fds to the recvmsg that reads them (design decision 2). Every
 * recvmsg has room for 253 fds, so stray fds are seen, closed, and reported instead of truncated.
 *
 * <h2>Threads</h2>
 * Reading happens in the reactor's READ handler; frames and the end of the channel are delivered on
 * the reactor thread, except that {@link FrameChannel#close()} called on another thread calls
 * {@code onClosed} on that thread. {@code send} may be called from any thread: off the reactor
 * thread, or when the socket is full, the frame is queued (its fds duplicated) and flushed on WRITE
 * readiness. Frames are never interleaved. A handler that throws closes the channel with its
 * exception as the cause. A failed write (EPIPE: the peer went away) fails that send and every
 * later one, but does not close the channel: the frames the peer sent before it went are still
 * delivered, then the end, with the write's failure as the cause.
 */
public final class UnixFrameChannel {
    private static final Logger LOG = LoggerFactory.getLogger(UnixFrameChannel.class);
    /** "LTF1". */
    public static final int MAGIC = 0x4C544631;
    public static final int HEADER_BYTES = 12;
    /** The data byte of every fd chunk after the first. */
    public static final byte FD_MARKER = (byte) 0xFD;

    private UnixFrameChannel() {
    }

    /** Wraps a connected non-blocking stream socket; the channel owns {@code socket} from now on. */
    public static FrameChannel open(Os os, OwnedFd socket, ChannelLimits limits) {
        return new Channel(os, socket, limits);
    }

    /** Number of fd chunks (sendmsgs carrying fds, header included) a frame of {@code fdCount} fds uses; at least 1. */
    public static int chunks(long fdCount) {
        return (int) Math.max(1, (fdCount + UnixSockets.SCM_MAX_FD - 1) / UnixSockets.SCM_MAX_FD);
    }

    /** The fds chunk {@code index} (0 = header) must carry in a frame of {@code fdCount} fds. */
    static int fdsInChunk(long fdCount, int index) {
        long before = (long) index * UnixSockets.SCM_MAX_FD;
        return (int) Math.max(0, Math.min(UnixSockets.SCM_MAX_FD, fdCount - before));
    }

    /** Bytes of a frame on the wire: header, markers, payload. */
    static long wireBytes(long payloadBytes, long fdCount) {
        return HEADER_BYTES + (chunks(fdCount) - 1) + payloadBytes;
    }

    private enum Phase { HEADER, MARKERS, PAYLOAD }

    private static final class Channel implements FrameChannel, Reactor.ReadinessHandler {
        private final UnixSockets unix;
        private final Reactor reactor;
        private final OwnedFd socket;
        private final ChannelLimits limits;

        // Everything below is guarded by "this".
        private Reactor.Registration registration;
        private FrameHandler handler;
        private boolean started;
        private boolean paused;
        /** The peer hung up while we were not reading: the registration is parked until reading resumes. */
        private boolean parked;
        private boolean closed;
        private Throwable closeCause;
        private boolean closeDelivered;
        /**
         * A sendmsg failed (EPIPE: the peer went away or shut its reading side down). Writing is over,
         * every send fails with this cause, but what the peer sent before it went is still in our
         * socket: reading goes on to the end (then the channel closes with this cause). Closing at
         * once lost a frame the peer had sent, e.g. the source's "failed" answer that a target
         * frozen by SIGSTOP found behind the stream, so the target never learned the source had
         * rolled back.
         */
        private Throwable writeFailure;
        /** The frame written before a receive failure closes the channel, if any. */
        private Function<Throwable, byte[]> lastWords;
        private final ArrayDeque<PendingSend> sendQueue = new ArrayDeque<>();
        /** Sends failed by a close, completed outside the lock. */
        private final List<PendingSend> toFail = new ArrayList<>();

        // Receive state machine.
        private Phase phase = Phase.HEADER;
        private final ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
        private final ByteBuffer marker = ByteBuffer.allocate(1);
        private long fdCount;
        private int chunkCount;
        private int nextChunk;
        private ByteBuffer payload;
        private final List<OwnedFd> frameFds = new ArrayList<>();
        private final List<OwnedFd> arrived = new ArrayList<>();

        Channel(Os os, OwnedFd socket, ChannelLimits limits) {
            this.unix = os.unix();
            this.reactor = os.reactor();
            this.socket = socket;
            this.limits = limits;
            this.registration = reactor.register(socket, 0, this);
        }

        // ------------------------------------------------------------------ public API

        @Override
        public CompletionStage<Void> send(byte[] payloadBytes, List<OwnedFd> fds) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            PendingSend direct = null;
            Throwable failure = null;
            synchronized (this) {
                if (closed) {
                    failure = closedError("send");
                } else if (writeFailure != null) {
                    failure = writeBrokenError();
                } else if (sendQueue.isEmpty()) {
                    // Nothing queued: write now, from whichever thread sends (the socket is non-blocking and
                    // this lock orders it with the reactor's writes). Handing the frame to the reactor thread
                    // first cost one thread wake-up per frame in the switch-over (profile-switchover.md).
                    // Whatever the socket does not take is queued with its own fd copies, as before.
                    direct = new PendingSend(payloadBytes, fds, false, done);
                } else {
                    List<OwnedFd> dups = new ArrayList<>(fds.size());
                    try {
                        for (OwnedFd fd : fds) {
                            dups.add(fd.dup());
                        }
                        sendQueue.add(new PendingSend(payloadBytes, dups, true, done));
                        updateInterest();
                    } catch (RuntimeException e) {
                        closeQuietlyInto(dups, e);
                        failure = e;
                    }
                }
                if (direct != null) {
                    try {
                        if (direct.writeSome(unix, socket)) {
                            direct = null;
                            done.complete(null);
                        } else {
                            direct.adoptRemainingFds();
                            sendQueue.add(direct);
                            updateInterest();
                            direct = null;
                        }
                    } catch (RuntimeException e) {
                        direct.releaseFds();
                        failure = e;
                        writeFailedLocked(e);
                    }
                }
            }
            if (failure != null) {
                done.completeExceptionally(failure);
            }
            afterUnlock();
            return done;
        }

        @Override
        public void start(FrameHandler frameHandler) {
            synchronized (this) {
                if (handler != null) {
                    throw new IllegalStateException("FrameChannel.start may be called once");
                }
                handler = frameHandler;
                started = true;
                updateInterest();
            }
            afterUnlock();
        }

        @Override
        public synchronized void pauseReading() {
            paused = true;
            updateInterest();
        }

        @Override
        public synchronized void resumeReading() {
            paused = false;
            updateInterest();
        }

        @Override
        public PeerCredentials peerCredentials() {
            synchronized (this) {
                if (closed) {
                    throw closedError("peerCredentials");
                }
                return unix.peerCredentials(socket);
            }
        }

        @Override
        public synchronized boolean isOpen() {
            return !closed;
        }

        @Override
        public synchronized void lastWordsOnReceiveFailure(Function<Throwable, byte[]> words) {
            this.lastWords = words;
        }

        @Override
        public void close() {
            synchronized (this) {
                closeLocked(null);
            }
            afterUnlock();
        }

        @Override
        public String toString() {
            return "UnixFrameChannel(" + socket + ")";
        }

        // ------------------------------------------------------------------ reactor side

        @Override
        public void onReady(int readyOps) {
            boolean writable = (readyOps & (Reactor.WRITE | Reactor.HANGUP)) != 0;
            boolean readable = (readyOps & (Reactor.READ | Reactor.HANGUP)) != 0;
            if (writable) {
                flush();
            }
            if ((readyOps & Reactor.HANGUP) != 0) {
                parkIfNotReading();
            }
            if (readable) {
                readFrames();
            }
        }

        /** The peer hung up while reading is off: stop the reactor reporting it until reading resumes. */
        private synchronized void parkIfNotReading() {
            if (!closed && !readingActive() && sendQueue.isEmpty() && registration != null) {
                registration.cancel();
                registration = null;
                parked = true;
            }
        }


        private void flush() {
            List<PendingSend> completed = new ArrayList<>();
            synchronized (this) {
                try {
                    while (!closed && !sendQueue.isEmpty()) {
                        PendingSend head = sendQueue.peek();
                        if (!head.writeSome(unix, socket)) {
                            break;
                        }
                        completed.add(sendQueue.poll());
                    }
                    if (!closed) {
                        updateInterest();
                    }
                } catch (RuntimeException e) {
                    writeFailedLocked(e);
                }
            }
            for (PendingSend p : completed) {
                p.done.complete(null);
            }
            afterUnlock();
        }

        private void readFrames() {
            while (true) {
                Frame frame;
                FrameHandler target;
                synchronized (this) {
                    if (closed || !readingActive()) {
                        frame = null;
                    } else {
                        try {
                            frame = readOneFrame();
                        } catch (RuntimeException | Error e) {
                            // an Error too (a class that cannot load at the descriptor limit): the channel
                            // must still close, or it hangs half-read with the reactor reporting it ready
                            frame = null;
                            try {
                                sayLastWordsLocked(e);
                            } finally {
                                closeLocked(e);
                            }
                        }
                    }
                    target = handler;
                }
                if (frame == null) {
                    afterUnlock();
                    return;
                }
                try {
                    target.onFrame(frame);
                } catch (RuntimeException | Error e) {
                    synchronized (this) {
                        closeLocked(e);
                    }
                    afterUnlock();
                    return;
                }
            }
        }

        /**
         * A receive failure: the peer hears why before the close, when the socket takes one more
         * frame at once (nothing queued ahead of it, writing not broken); otherwise it sees only the close.
         */
        private void sayLastWordsLocked(Throwable cause) {
            if (lastWords == null || writeFailure != null || !sendQueue.isEmpty()) {
                return;
            }
            try {
                byte[] words = lastWords.apply(cause);
                if (words != null && !new PendingSend(words, List.of(), false, new CompletableFuture<>()).writeSome(unix, socket)) {
                    LOG.debug("{}: the last words did not fit in the socket at once", this);
                }
            } catch (RuntimeException e) {
                LOG.debug("{}: the last words could not be written: {}", this, e.toString());
            } catch (LinkageError e) {
                // the peer then sees only the close: say so here (the receive failure is the close's cause)
                LOG.warn("{}: the last words could not be built: {}", this, e.toString());
            }
        }

        /** Reads until a whole frame is here (returned), the socket is empty (null), or EOF (closes, null). */
        private Frame readOneFrame() {
            while (true) {
                switch (phase) {
                    case HEADER -> {
                        int n = receive(header);
                        if (n == 0) {
                            return null;
                        }
                        if (n < 0) {
                            if (header.position() == 0 && frameFds.isEmpty()) {
                                closeLocked(writeFailure); // orderly end; after a failed write, that failure
                                return null;
                            }
                            throw midFrame();
                        }
                        if (header.hasRemaining()) {
                            continue;
                        }
                        parseHeader();
                    }
                    case MARKERS -> {
                        marker.clear();
                        int n = receive(marker);
                        if (n == 0) {
                            return null;
                        }
                        if (n < 0) {
                            throw midFrame();
                        }
                        int expected = fdsInChunk(fdCount, nextChunk);
                        if (marker.get(0) != FD_MARKER) {
                            throw new FramingException(String.format(
                                    "fd chunk %d of %d: expected marker byte 0xFD, got 0x%02X",
                                    nextChunk + 1, chunkCount, marker.get(0) & 0xFF));
                        }
                        if (arrived.size() != expected) {
                            throw new FramingException("fd chunk " + (nextChunk + 1) + " of " + chunkCount
                                    + " of a frame announcing " + fdCount + " fds must carry " + expected
                                    + " fds, but " + arrived.size() + " arrived");
                        }
                        arrived.clear();
                        nextChunk++;
                        if (nextChunk == chunkCount) {
                            phase = Phase.PAYLOAD;
                        }
                    }
                    case PAYLOAD -> {
                        if (payload.hasRemaining()) {
                            int n = receive(payload);
                            if (n == 0) {
                                return null;
                            }
                            if (n < 0) {
                                throw midFrame();
                            }
                            if (!arrived.isEmpty()) {
                                throw new FramingException(arrived.size() + " stray fds arrived on payload bytes "
                                        + "(after " + received() + " of " + wireBytes(payload.capacity(), fdCount)
                                        + " bytes of the frame); fds travel only on header and marker bytes");
                            }
                        }
                        if (!payload.hasRemaining()) {
                            Frame frame = new Frame(payload.array(), frameFds);
                            resetFrame();
                            return frame;
                        }
                    }
                    default -> throw new IllegalStateException("unknown phase " + phase);
                }
            }
        }

        /** One recvmsg with room for 253 fds; what arrives is owned by the frame at once. */
        private int receive(ByteBuffer into) {
            arrived.clear();
            int n;
            try {
                n = unix.recvmsg(socket, into, arrived, UnixSockets.SCM_MAX_FD);
            } finally {
                frameFds.addAll(arrived);
            }
            return n;
        }

        private void parseHeader() {
            int magic = header.getInt(0);
            long length = Integer.toUnsignedLong(header.getInt(4));
            fdCount = Integer.toUnsignedLong(header.getInt(8));
            if (magic != MAGIC) {
                throw new FramingException(String.format(
                        "bad frame magic 0x%08X, expected 0x%08X (\"LTF1\"); the peer does not speak the framing layer",
                        magic, MAGIC));
            }
            if (length > limits.maxFrameBytes()) {
                throw new FramingException("frame payload of " + length + " bytes exceeds maxFrameBytes "
                        + limits.maxFrameBytes() + "; the frame and its fds are rejected");
            }
            if (fdCount > limits.maxFdsPerFrame()) {
                throw new FramingException("frame announces " + fdCount + " fds, more than maxFdsPerFrame "
                        + limits.maxFdsPerFrame() + "; the frame and its fds are rejected");
            }
            int expected = fdsInChunk(fdCount, 0);
            if (frameFds.size() != expected) {
                throw new FramingException("frame header announcing " + fdCount + " fds must carry " + expected
                        + " fds on its own bytes, but " + frameFds.size() + " arrived"
                        + (frameFds.size() > expected ? " (stray fds)" : ""));
            }
            arrived.clear();
            chunkCount = chunks(fdCount);
            nextChunk = 1;
            payload = ByteBuffer.allocate((int) length);
            phase = chunkCount > 1 ? Phase.MARKERS : Phase.PAYLOAD;
        }

        private long received() {
            long markers = phase == Phase.MARKERS ? nextChunk - 1 : (phase == Phase.PAYLOAD ? chunkCount - 1 : 0);
            return header.position() + markers + (payload == null ? 0 : payload.position());
        }

        private FramingException midFrame() {
            if (phase == Phase.HEADER) {
                return new FramingException("peer closed mid-frame after " + header.position() + " of at least "
                        + HEADER_BYTES + " bytes (inside the frame header)");
            }
            return new FramingException("peer closed mid-frame after " + received() + " of "
                    + wireBytes(payload.capacity(), fdCount) + " bytes");
        }

        private void resetFrame() {
            phase = Phase.HEADER;
            header.clear();
            payload = null;
            fdCount = 0;
            chunkCount = 0;
            nextChunk = 0;
            frameFds.clear();
            arrived.clear();
        }

        // ------------------------------------------------------------------ state helpers (hold "this")

        private boolean readingActive() {
            return started && !paused;
        }

        private void updateInterest() {
            if (closed) {
                return;
            }
            if (parked && (readingActive() || !sendQueue.isEmpty())) {
                // Reading resumed or a send waits: watch again, to read up to EOF or to fail the send (EPIPE).
                parked = false;
                registration = reactor.register(socket, 0, this);
            }
            if (registration == null) {
                return;
            }
            int ops = (readingActive() ? Reactor.READ : 0) | (sendQueue.isEmpty() ? 0 : Reactor.WRITE);
            if (registration.interest() != ops) {
                registration.interest(ops);
            }
        }

        /**
         * A write failed: fail this and every queued send, write nothing more, but keep reading what
         * the peer sent before it went away (the end of the stream closes the channel). With reading
         * off the channel waits for resumeReading or close, as for a hang-up while paused.
         */
        private void writeFailedLocked(RuntimeException e) {
            if (closed || writeFailure != null) {
                return;
            }
            writeFailure = e;
            RuntimeException trouble = null;
            for (PendingSend p : sendQueue) {
                try {
                    p.releaseFds();
                } catch (RuntimeException r) {
                    trouble = add(trouble, r);
                }
            }
            toFail.addAll(sendQueue);
            sendQueue.clear();
            if (trouble != null) {
                e.addSuppressed(trouble);
            }
            updateInterest();
        }

        private IllegalStateException writeBrokenError() {
            return new IllegalStateException("send on a FrameChannel whose writing failed (" + socket + "): "
                    + writeFailure.getMessage(), writeFailure);
        }

        private IllegalStateException closedError(String what) {
            IllegalStateException e = new IllegalStateException(what + " on a closed FrameChannel ("
                    + socket + ")" + (closeCause == null ? "" : ": " + closeCause.getMessage()));
            if (closeCause != null) {
                e.initCause(closeCause);
            }
            return e;
        }

        /**
         * Closes everything once; the pending sends are failed and onClosed delivered by
         * {@link #afterUnlock()}, outside the lock. The first cause wins.
         */
        private void closeLocked(Throwable cause) {
            if (closed) {
                return;
            }
            closed = true;
            closeCause = cause;
            RuntimeException trouble = null;
            if (registration != null) {
                registration.cancel();
                registration = null;
            }
            trouble = closeQuietlyInto(frameFds, trouble);
            resetFrame();
            List<PendingSend> failed = new ArrayList<>(sendQueue);
            sendQueue.clear();
            toFail.addAll(failed);
            for (PendingSend p : failed) {
                try {
                    p.releaseFds();
                } catch (RuntimeException e) {
                    trouble = add(trouble, e);
                }
            }
            try {
                socket.close();
            } catch (RuntimeException e) {
                trouble = add(trouble, e);
            }
            if (trouble != null) {
                if (closeCause == null) {
                    closeCause = trouble;
                } else {
                    closeCause.addSuppressed(trouble);
                }
            }
        }

        /**
         * Outside the lock: fails the sends a close left behind, then calls onClosed exactly once,
         * once the channel is closed and a handler is known.
         */
        private void afterUnlock() {
            List<PendingSend> failed;
            Throwable sendError = null;
            FrameHandler target = null;
            Throwable cause = null;
            synchronized (this) {
                failed = new ArrayList<>(toFail);
                toFail.clear();
                if (!failed.isEmpty()) {
                    sendError = closed ? closedError("send") : writeBrokenError();
                }
                if (closed && handler != null && !closeDelivered) {
                    closeDelivered = true;
                    target = handler;
                    cause = closeCause;
                }
            }
            for (PendingSend p : failed) {
                p.done.completeExceptionally(sendError);
            }
            if (target != null) {
                target.onClosed(cause);
            }
        }

        private static RuntimeException closeQuietlyInto(List<OwnedFd> fds, RuntimeException trouble) {
            try {
                OwnedFd.closeAll(fds);
            } catch (RuntimeException e) {
                trouble = add(trouble, e);
            }
            fds.clear();
            return trouble;
        }

        private static RuntimeException add(RuntimeException first, RuntimeException next) {
            if (first == null) {
                return next;
            }
            first.addSuppressed(next);
            return first;
        }
    }

    /** A frame being written: its sendmsg segments and how far it got. */
    private static final class PendingSend {
        private final ByteBuffer[] segments;
        private final List<List<OwnedFd>> segmentFds;
        private final CompletableFuture<Void> done;
        private boolean ownsFds;
        private int segment;
        private boolean fdsSent;

        PendingSend(byte[] payload, List<OwnedFd> fds, boolean ownsFds, CompletableFuture<Void> done) {
            this.done = done;
            this.ownsFds = ownsFds;
            int c = chunks(fds.size());
            segments = new ByteBuffer[c];
            segmentFds = new ArrayList<>(c);
            for (int i = 0; i < c; i++) {
                int first = i * UnixSockets.SCM_MAX_FD;
                segmentFds.add(new ArrayList<>(fds.subList(first, first + fdsInChunk(fds.size(), i))));
                int lead = i == 0 ? HEADER_BYTES : 1;
                int size = lead + (i == c - 1 ? payload.length : 0);
                ByteBuffer b = ByteBuffer.allocate(size);
                if (i == 0) {
                    b.putInt(MAGIC).putInt(payload.length).putInt(fds.size());
                } else {
                    b.put(FD_MARKER);
                }
                if (i == c - 1) {
                    b.put(payload);
                }
                segments[i] = b.flip();
            }
        }

        /** Sends as much as the socket takes; true when the whole frame is in the kernel. */
        boolean writeSome(UnixSockets unix, OwnedFd socket) {
            while (segment < segments.length) {
                ByteBuffer b = segments[segment];
                List<OwnedFd> fds = fdsSent ? List.of() : segmentFds.get(segment);
                int n = unix.sendmsg(socket, b, fds);
                if (n == 0) {
                    return false;
                }
                if (!fdsSent) {
                    fdsSent = true;
                    if (ownsFds) {
                        OwnedFd.closeAll(fds);
                    }
                    segmentFds.set(segment, List.of());
                }
                if (!b.hasRemaining()) {
                    segment++;
                    fdsSent = false;
                }
            }
            return true;
        }

        /** The caller's fds were borrowed; the frame must wait, so keep duplicates of those not yet sent. */
        void adoptRemainingFds() {
            if (ownsFds) {
                return;
            }
            List<OwnedFd> made = new ArrayList<>();
            try {
                for (int i = segment; i < segmentFds.size(); i++) {
                    List<OwnedFd> dups = new ArrayList<>();
                    for (OwnedFd fd : segmentFds.get(i)) {
                        OwnedFd d = fd.dup();
                        made.add(d);
                        dups.add(d);
                    }
                    segmentFds.set(i, dups);
                }
            } catch (RuntimeException e) {
                OwnedFd.closeAll(made);
                throw e;
            }
            ownsFds = true;
        }

        void releaseFds() {
            if (ownsFds) {
                List<OwnedFd> all = new ArrayList<>();
                segmentFds.forEach(all::addAll);
                segmentFds.replaceAll(l -> List.of());
                OwnedFd.closeAll(all);
            }
        }
    }
}
