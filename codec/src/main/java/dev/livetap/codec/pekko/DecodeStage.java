package dev.livetap.codec.pekko;

import dev.livetap.codec.DecoderLimits;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StreamDecoder;
import dev.livetap.codec.StreamFormatException;
import dev.livetap.codec.StreamSummary;
import dev.livetap.nativeio.Frame;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.GraphStageWithMaterializedValue;
import scala.Tuple2;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Runs a {@link StreamDecoder}: emits each loaded section, completes as soon as the description
 * arrives (the channel stays open for the return path), fails with the decoder's exception.
 */
final class DecodeStage extends GraphStageWithMaterializedValue<FlowShape<Frame, Section>, CompletionStage<StreamSummary>> {
    private final Inlet<Frame> in = Inlet.create("MigrationStream.decode.in");
    private final Outlet<Section> out = Outlet.create("MigrationStream.decode.out");
    private final FlowShape<Frame, Section> shape = FlowShape.of(in, out);
    private final SectionResolver resolver;
    private final DecoderLimits limits;

    DecodeStage(SectionResolver resolver, DecoderLimits limits) {
        this.resolver = resolver;
        this.limits = limits;
    }

    @Override
    public FlowShape<Frame, Section> shape() {
        return shape;
    }

    @Override
    public Tuple2<GraphStageLogic, CompletionStage<StreamSummary>> createLogicAndMaterializedValue(Attributes attrs) {
        CompletableFuture<StreamSummary> done = new CompletableFuture<>();
        GraphStageLogic logic = new GraphStageLogic(shape) {
            private final StreamDecoder decoder = new StreamDecoder(resolver, limits);

            {
                setHandler(out, new AbstractOutHandler() {
                    @Override
                    public void onPull() {
                        if (!hasBeenPulled(in)) {
                            pull(in);
                        }
                    }

                    @Override
                    public void onDownstreamFinish(Throwable cause) {
                        done.completeExceptionally(new StreamFormatException(StreamFormatException.Reason.TRUNCATED,
                                "the consumer of the sections stopped before the end of the stream"));
                        cancelStage(cause);
                    }
                });
                setHandler(in, new AbstractInHandler() {
                    @Override
                    public void onPush() {
                        Section s;
                        try {
                            s = decoder.accept(grab(in));
                        } catch (StreamFormatException e) {
                            fail(e);
                            return;
                        }
                        if (s != null) {
                            push(out, s);
                        }
                        if (decoder.isComplete()) {
                            done.complete(new StreamSummary(decoder.header(), decoder.sectionCount(), decoder.description()));
                            completeStage();
                        } else if (s == null) {
                            pull(in);
                        }
                    }

                    @Override
                    public void onUpstreamFinish() {
                        try {
                            decoder.finish();
                        } catch (StreamFormatException e) {
                            fail(e);
                            return;
                        }
                        completeStage();
                    }

                    @Override
                    public void onUpstreamFailure(Throwable ex) {
                        fail(ex);
                    }
                });
            }

            private void fail(Throwable e) {
                done.completeExceptionally(e);
                failStage(e);
            }

            @Override
            public void postStop() {
                if (!done.isDone()) {
                    done.completeExceptionally(new StreamFormatException(StreamFormatException.Reason.TRUNCATED,
                            "the decoding stage stopped before the end of the stream"));
                }
            }
        };
        return Tuple2.apply(logic, done);
    }
}
