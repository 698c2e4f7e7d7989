package dev.livetap.codec.pekko;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import org.apache.pekko.Done;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.SinkShape;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.GraphStageWithMaterializedValue;
import scala.Tuple2;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Sends frames on a {@link FrameChannel}, at most {@code maxInFlight} unconfirmed at a time; the
 * materialized stage completes when every frame is in the kernel. The frames' fds are borrowed:
 * the channel duplicates them and the sender keeps its own (it may still roll back).
 */
final class FrameChannelSink extends GraphStageWithMaterializedValue<SinkShape<Frame>, CompletionStage<Done>> {
    private final Inlet<Frame> in = Inlet.create("MigrationStream.channel.in");
    private final SinkShape<Frame> shape = SinkShape.of(in);
    private final FrameChannel channel;
    private final int maxInFlight;

    FrameChannelSink(FrameChannel channel, int maxInFlight) {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be >= 1: " + maxInFlight);
        }
        this.channel = channel;
        this.maxInFlight = maxInFlight;
    }

    @Override
    public SinkShape<Frame> shape() {
        return shape;
    }

    @Override
    public Tuple2<GraphStageLogic, CompletionStage<Done>> createLogicAndMaterializedValue(Attributes attrs) {
        CompletableFuture<Done> done = new CompletableFuture<>();
        GraphStageLogic logic = new GraphStageLogic(shape) {
            private final AsyncCallback<Throwable> sent = createAsyncCallback(this::onSent);
            private int inFlight;
            private boolean finished;

            {
                setHandler(in, new AbstractInHandler() {
                    @Override
                    public void onPush() {
                        Frame f = grab(in);
                        inFlight++;
                        // whenComplete (never *Async): runs on whichever thread completes the send, only to signal
                        channel.send(f.payload(), f.fds()).whenComplete((v, ex) -> sent.invoke(ex == null ? OK : ex));
                        if (inFlight < maxInFlight) {
                            pull(in);
                        }
                    }

                    @Override
                    public void onUpstreamFinish() {
                        finished = true;
                        maybeComplete();
                    }

                    @Override
                    public void onUpstreamFailure(Throwable ex) {
                        done.completeExceptionally(ex);
                        failStage(ex);
                    }
                });
            }

            @Override
            public void preStart() {
                setKeepGoing(true); // outlive upstream completion until the last send is confirmed
                pull(in);
            }

            private void onSent(Throwable ex) {
                inFlight--;
                if (ex != OK) {
                    done.completeExceptionally(ex);
                    failStage(ex);
                    return;
                }
                if (!finished && !hasBeenPulled(in) && inFlight < maxInFlight) {
                    pull(in);
                }
                maybeComplete();
            }

            private void maybeComplete() {
                if (finished && inFlight == 0) {
                    done.complete(Done.getInstance());
                    completeStage();
                }
            }

            @Override
            public void postStop() {
                if (!done.isDone()) {
                    done.completeExceptionally(new IllegalStateException("channel sink stopped with "
                            + inFlight + " frames unconfirmed"));
                }
            }
        };
        return Tuple2.apply(logic, done);
    }

    /** Marks a successful send (a callback argument cannot be null-free otherwise). */
    private static final Throwable OK = new Throwable("sent", null, false, false) { };
}
