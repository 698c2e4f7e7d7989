package dev.livetap.codec.pekko;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.SourceShape;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;

import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Frames received on a {@link FrameChannel}, driven by the channel's callbacks on the reactor
 * thread: the reactor only enqueues and signals, the stage pushes. Reading pauses when
 * {@code highWater} frames wait and resumes when the buffer drains to half. Frames still queued
 * when the stage stops, and frames arriving after, have their fds closed. {@code start},
 * {@code pauseReading} and {@code resumeReading} are called from the stream's thread, so the
 * channel must accept them from any thread (the native channel hands them to its reactor).
 */
final class FrameChannelSource extends GraphStage<SourceShape<Frame>> {
    private final Outlet<Frame> out = Outlet.create("MigrationStream.channel.out");
    private final SourceShape<Frame> shape = SourceShape.of(out);
    private final FrameChannel channel;
    private final int highWater;
    private final boolean closeChannelOnStop;

    FrameChannelSource(FrameChannel channel, int highWater, boolean closeChannelOnStop) {
        if (highWater < 1) {
            throw new IllegalArgumentException("buffer must hold at least one frame: " + highWater);
        }
        this.channel = channel;
        this.highWater = highWater;
        this.closeChannelOnStop = closeChannelOnStop;
    }

    @Override
    public SourceShape<Frame> shape() {
        return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attrs) {
        return new Logic();
    }

    private final class Logic extends GraphStageLogic {
        /** Handed over from the reactor thread; polled only by whoever owns a frame next. */
        private final ConcurrentLinkedQueue<Frame> queue = new ConcurrentLinkedQueue<>();
        private volatile boolean stopped;
        private final AsyncCallback<Object> signal = createAsyncCallback(this::onSignal);
        private int buffered;
        private boolean paused;
        private boolean ended;
        private Throwable endCause;

        Logic() {
            super(shape);
            setHandler(out, new AbstractOutHandler() {
                @Override
                public void onPull() {
                    deliver();
                }
            });
        }

        @Override
        public void preStart() {
            channel.start(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame frame) {
                    queue.add(frame);
                    if (stopped) {
                        drainAndClose(); // the stage is gone: nobody else will own these fds
                    } else {
                        signal.invoke(Boolean.TRUE);
                    }
                }

                @Override
                public void onClosed(Throwable cause) {
                    signal.invoke(cause == null ? Ended.ORDERLY : new Ended(cause));
                }
            });
        }

        private void onSignal(Object s) {
            if (s instanceof Ended) {
                ended = true;
                endCause = ((Ended) s).cause;
            } else {
                buffered++;
                if (buffered >= highWater && !paused) {
                    paused = true;
                    channel.pauseReading();
                }
            }
            if (isAvailable(out)) {
                deliver();
            }
        }

        private void deliver() {
            Frame f = queue.poll();
            if (f != null) {
                buffered--;
                push(out, f);
                if (paused && buffered <= highWater / 2) {
                    paused = false;
                    channel.resumeReading();
                }
            } else if (ended) {
                if (endCause == null) {
                    completeStage();
                } else {
                    failStage(endCause);
                }
            }
        }

        @Override
        public void postStop() {
            stopped = true;
            drainAndClose();
            if (closeChannelOnStop) {
                channel.close();
            } else if (!ended) {
                channel.pauseReading();
            }
        }

        private void drainAndClose() {
            Frame f;
            while ((f = queue.poll()) != null) {
                f.close();
            }
        }
    }

    /** The channel's end, signalled after its last frame. */
    private static final class Ended {
        static final Ended ORDERLY = new Ended(null);
        final Throwable cause;

        Ended(Throwable cause) {
            this.cause = cause;
        }
    }
}
