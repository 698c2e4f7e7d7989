package dev.livetap.actors.migration;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * A channel whose receiver can change: the target's migration stream reads it first, then the
 * coordinator takes it over to hear the source's confirmation on the same socket (a
 * {@link FrameChannel} is started once). After the hand-over the first receiver's pause and
 * resume calls are ignored, so a stream stage stopping late cannot pause the new receiver. The
 * end of the channel reaches whoever receives then, or the next receiver at once if it already
 * happened. Lock order: {@code flow} before the framing layer's own; {@code end} alone.
 *
 * <p>Return-path frames (kind {@code 0x20}) that arrive before the hand-over go to
 * {@code earlyAnswers}, never into the stream: a source that gave up (return-path timeout, cancel,
 * switch-over limit) sends {@code failed} and closes; a target that was slow or frozen finds that
 * answer right behind the stream. The stream's reader reads ahead and would drop it with the
 * frames it no longer wants; the target then took the source's close for its death.
 */
final class HandOverChannel implements FrameChannel {
    private final FrameChannel delegate;
    private final java.util.function.Consumer<Frame> earlyAnswers;
    private volatile boolean answersToReceiver;
    private final Object flow = new Object();
    private final Object end = new Object();
    private volatile FrameHandler receiver;
    private boolean handedOver;
    private boolean ended;
    private Throwable endCause;

    HandOverChannel(FrameChannel delegate, java.util.function.Consumer<Frame> earlyAnswers) {
        this.delegate = delegate;
        this.earlyAnswers = earlyAnswers;
    }

    @Override
    public CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds) {
        return delegate.send(payload, fds);
    }

    @Override
    public void lastWordsOnReceiveFailure(java.util.function.Function<Throwable, byte[]> lastWords) {
        delegate.lastWordsOnReceiveFailure(lastWords);
    }

    @Override
    public void start(FrameHandler handler) {
        receiver = handler;
        delegate.start(new FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                if (!answersToReceiver && ReturnPath.isAnswer(frame)) {
                    earlyAnswers.accept(frame);
                } else {
                    receiver.onFrame(frame);
                }
            }

            @Override
            public void onClosed(Throwable cause) {
                synchronized (end) {
                    ended = true;
                    endCause = cause;
                }
                receiver.onClosed(cause);
            }
        });
    }

    /** From now on frames go to {@code next}, and reading is on. */
    void handOver(FrameHandler next) {
        synchronized (flow) {
            handedOver = true;
        }
        answersToReceiver = true;
        boolean alreadyEnded;
        Throwable cause;
        synchronized (end) {
            receiver = next;
            alreadyEnded = ended;
            cause = endCause;
        }
        if (alreadyEnded) {
            next.onClosed(cause);
        } else {
            delegate.resumeReading();
        }
    }

    @Override
    public void pauseReading() {
        synchronized (flow) { // held across the call: a hand-over cannot slip in between check and pause
            if (!handedOver) {
                delegate.pauseReading();
            }
        }
    }

    @Override
    public void resumeReading() {
        synchronized (flow) {
            if (!handedOver) {
                delegate.resumeReading();
            }
        }
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
