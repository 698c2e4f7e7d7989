package dev.livetap.simulation.faults;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

/**
 * A {@link FrameChannel} decorator through which faults see (and may change, hold, drop or
 * duplicate) every frame sent and received. With no interceptor it is transparent.
 */
public final class FaultyChannel implements FrameChannel {
    /** Sees a frame before it is sent; calls {@code next} (possibly with other bytes or fds) or not. */
    @FunctionalInterface
    public interface SendInterceptor {
        CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds, Sender next);
    }

    @FunctionalInterface
    public interface Sender {
        CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds);
    }

    /** Sees a received frame (owning its fds) before the handler; passes it (or another) to {@code next}, or not. */
    public interface ReceiveInterceptor {
        void onFrame(Frame frame, Consumer<Frame> next);

        default void onClosed(Throwable cause, Consumer<Throwable> next) {
            next.accept(cause);
        }

        /**
         * The channel was closed (or its process died): release whatever is held now. Held frames
         * then meet a closed channel and are closed, as a closed socket's buffer is by the kernel.
         */
        default void channelClosed() {
        }
    }

    private final FrameChannel delegate;
    private final OwnedFd socket;
    private SendInterceptor sendInterceptor = (p, f, next) -> next.send(p, f);
    private ReceiveInterceptor receiveInterceptor = (f, next) -> next.accept(f);

    private boolean closed;
    private boolean dead;

    /** The process died: nothing more is sent or delivered through this channel. */
    public void kill() {
        dead = true;
        receiveInterceptor.channelClosed();
    }

    public FaultyChannel(FrameChannel delegate, OwnedFd socket) {
        this.delegate = delegate;
        this.socket = socket;
    }

    /** The socket under the framing layer (for the in-memory kernel's fault hooks). */
    public OwnedFd socket() {
        return socket;
    }

    public SendInterceptor sendInterceptor() {
        return sendInterceptor;
    }

    public ReceiveInterceptor receiveInterceptor() {
        return receiveInterceptor;
    }

    public void interceptSends(SendInterceptor i) {
        this.sendInterceptor = i;
    }

    public void interceptReceives(ReceiveInterceptor i) {
        this.receiveInterceptor = i;
    }

    @Override
    public CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds) {
        if (dead) {
            return new java.util.concurrent.CompletableFuture<>();
        }
        return sendInterceptor.send(payload, fds, (p, f) -> dead ? new java.util.concurrent.CompletableFuture<>() : delegate.send(p, f));
    }

    private FrameHandler started;

    /** Delivers {@code frame} as if it had been received (a forged frame, for planted bugs). */
    public void injectReceived(Frame frame) {
        started.onFrame(frame);
    }

    @Override
    public void start(FrameHandler handler) {
        started = new FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                // frames held by a fault and released after close() are discarded, as the kernel
                // discards a closed socket's buffer (fds included): the FrameChannel contract
                receiveInterceptor.onFrame(frame, f -> {
                    if (closed || dead) {
                        f.close();
                    } else {
                        handler.onFrame(f);
                    }
                });
            }

            @Override
            public void onClosed(Throwable cause) {
                receiveInterceptor.onClosed(cause, c -> {
                    if (!dead) {
                        handler.onClosed(c);
                    }
                });
            }
        };
        delegate.start(started);
    }

    @Override
    public void lastWordsOnReceiveFailure(java.util.function.Function<Throwable, byte[]> lastWords) {
        delegate.lastWordsOnReceiveFailure(lastWords);
    }

    @Override
    public void pauseReading() {
        delegate.pauseReading();
    }

    @Override
    public void resumeReading() {
        delegate.resumeReading();
    }

    @Override
    public PeerCredentials peerCredentials() {
        return delegate.peerCredentials();
    }

    @Override
    public boolean isOpen() {
        return delegate.isOpen();
    }

    @Override
    public void close() {
        closed = true;
        delegate.close();
        receiveInterceptor.channelClosed();
    }

    /**
     * What a frame is, from its first bytes (docs/stream-format.md; the return path's kind 0x20).
     * Format 2 put its checksum at the end of each frame, so the first bytes are where they were;
     * a frame whose first bytes were damaged is classified by what they now say.
     */
    public static String kind(byte[] payload) {
        if (payload.length >= 4 && payload[0] == 'L' && payload[1] == 'T' && payload[2] == 'M' && payload[3] == 'S') {
            return "header";
        }
        if (payload.length == 0) {
            return "empty";
        }
        return switch (payload[0] & 0xFF) {
            case 0x00 -> "end";
            case 0x04 -> "section";
            case 0x06 -> "vmdesc";
            case 0x20 -> "return";
            default -> "unknown";
        };
    }
}
