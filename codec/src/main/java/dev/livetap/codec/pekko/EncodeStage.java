package dev.livetap.codec.pekko;

import dev.livetap.codec.Section;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.Frame;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;

import java.util.ArrayDeque;

/** Header first, one frame per section, then end marker and description when upstream completes. */
final class EncodeStage extends GraphStage<FlowShape<Section, Frame>> {
    private final Inlet<Section> in = Inlet.create("MigrationStream.encode.in");
    private final Outlet<Frame> out = Outlet.create("MigrationStream.encode.out");
    private final FlowShape<Section, Frame> shape = FlowShape.of(in, out);
    private final StreamHeader header;

    EncodeStage(StreamHeader header) {
        this.header = header;
    }

    @Override
    public FlowShape<Section, Frame> shape() {
        return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attrs) {
        return new GraphStageLogic(shape) {
            private final StreamEncoder encoder = new StreamEncoder(header);
            private final ArrayDeque<Frame> pending = new ArrayDeque<>(3);
            private boolean finished;

            {
                setHandler(out, new AbstractOutHandler() {
                    @Override
                    public void onPull() {
                        if (!pending.isEmpty()) {
                            pushPending();
                        } else if (!finished) {
                            pull(in);
                        }
                    }
                });
                setHandler(in, new AbstractInHandler() {
                    @Override
                    public void onPush() {
                        Frame f;
                        try {
                            f = encoder.section(grab(in));
                        } catch (RuntimeException e) {
                            failStage(e);
                            return;
                        }
                        push(out, f);
                    }

                    @Override
                    public void onUpstreamFinish() {
                        finished = true;
                        pending.addAll(encoder.trailer());
                        if (isAvailable(out)) {
                            pushPending();
                        }
                    }
                });
            }

            @Override
            public void preStart() {
                pending.add(encoder.header());
            }

            private void pushPending() {
                push(out, pending.poll());
                if (pending.isEmpty() && finished) {
                    completeStage();
                }
            }
        };
    }
}
