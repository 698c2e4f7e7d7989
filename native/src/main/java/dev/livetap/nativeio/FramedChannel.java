package dev.livetap.nativeio;

/**
 * The one implementation of {@link FrameChannel}, written against {@link UnixSockets} and
 * {@link Reactor} so that it runs unchanged on the kernel and on the in-memory OS.
 */
public final class FramedChannel {
    private FramedChannel() {
    }

    /** Wraps a connected non-blocking stream socket; the channel owns {@code socket} from now on. */
    public static FrameChannel open(Os os, OwnedFd socket, ChannelLimits limits) {
        throw new UnsupportedOperationException("framing layer not implemented yet");
    }
}
