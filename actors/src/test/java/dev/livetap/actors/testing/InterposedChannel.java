package dev.livetap.actors.testing;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * A channel that runs {@code onFirstFrame} once, on the reactor thread, before the first received
 * frame that carries fds is delivered: a device section with its queues, which a source sends only
 * after its queues stopped (the stream header goes out earlier, at {@code active}).
 */
public final class InterposedChannel implements FrameChannel {
    private final FrameChannel delegate;
    private final Runnable onFirstFrame;
    private boolean ran;

    public InterposedChannel(FrameChannel delegate, Runnable onFirstFrame) {
        this.delegate = delegate;
        this.onFirstFrame = onFirstFrame;
    }

    @Override
    public CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds) {
        return delegate.send(payload, fds);
    }

    @Override
    public void start(FrameHandler handler) {
        delegate.start(new FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                if (!ran && !frame.fds().isEmpty()) {
                    ran = true;
                    onFirstFrame.run();
                }
                handler.onFrame(frame);
            }

            @Override
            public void onClosed(Throwable cause) {
                handler.onClosed(cause);
            }
        });
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
        delegate.close();
    }
}
