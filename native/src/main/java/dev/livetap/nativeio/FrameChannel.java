package dev.livetap.nativeio;

import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * The framing layer (design decision 2): length-prefixed frames over a connected AF_UNIX
 * stream socket, with any number of fds per frame, read and written through the process's
 * reactor. A receiver never reads past the end of the current frame.
 */
public interface FrameChannel extends AutoCloseable {
    /**
     * Queues one frame. Never blocks. The caller keeps ownership of {@code fds}: the kernel
     * (or the channel, if the frame must wait for the socket) duplicates them.
     *
     * @return completes when the whole frame is in the kernel; fails if the channel fails first
     */
    CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds);

    /**
     * Starts delivering received frames to {@code handler}, on the reactor thread. Call once.
     */
    void start(FrameHandler handler);

    /** Stops reading from the socket (back-pressure); frames stay in the kernel. */
    void pauseReading();

    void resumeReading();

    PeerCredentials peerCredentials();

    boolean isOpen();

    /**
     * What to tell the peer when receiving fails (a frame refused or cut short by the framing layer,
     * e.g. fds the kernel dropped at this process's descriptor limit, EMFILE): {@code lastWords}
     * gives a payload for the failure, written as one fd-less frame, best effort and without
     * blocking, before the channel closes; its handler then sees the failure as usual. Without it
     * (the default) a receive failure closes the channel at once and the peer sees only the close.
     */
    default void lastWordsOnReceiveFailure(Function<Throwable, byte[]> lastWords) {
    }

    /** Closes the socket; a partially received frame's fds are closed. Idempotent. */
    @Override
    void close();

    /** Receives frames and the end of the channel. */
    interface FrameHandler {
        /** A whole frame; the handler owns its fds from now on. */
        void onFrame(Frame frame);

        /**
         * The channel ended: {@code cause} is null for an orderly end of stream at a frame
         * boundary, otherwise the {@link FramingException} or {@link NativeException}.
         * Called exactly once.
         */
        void onClosed(Throwable cause);
    }
}
