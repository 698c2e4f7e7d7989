package dev.livetap.codec.pekko;

import dev.livetap.codec.DecoderLimits;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StreamHeader;
import dev.livetap.codec.StreamSummary;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.javadsl.RunnableGraph;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;

import java.util.concurrent.CompletionStage;

/**
 * The migration stream as Pekko Streams: encode and decode flows over native frames, and a source
 * and sink over a {@link FrameChannel}. Every stage runs on the dispatcher named
 * {@value #STREAM_DISPATCHER} (reference.conf), which the simulation binds to its one FIFO executor:
 * a runnable migration stream is started through {@link #onStreamDispatcher}, never on Pekko's
 * global materializer settings (an embedder's own streams stay on its dispatchers).
 */
public final class MigrationStreamFlows {
    /** The dispatcher all stages of the migration stream run on. */
    public static final String STREAM_DISPATCHER = "livetap.dispatchers.stream";
    /** Frames buffered by {@link #fromChannel} before it pauses reading. */
    public static final int DEFAULT_BUFFER_FRAMES = 16;
    /** Frames {@link #toChannel} sends before waiting for the first to reach the kernel. */
    public static final int DEFAULT_MAX_IN_FLIGHT = 16;


    private MigrationStreamFlows() {
    }

    /** Sections in, frames out: header first, end marker and description after upstream completes. */
    public static Flow<Section, Frame, NotUsed> encoder(StreamHeader header) {
        return Flow.fromGraph(new EncodeStage(header)).withAttributes(named("livetapEncode"));
    }

    /**
     * Frames in (owned: the flow takes their fds), loaded sections out; completes when the description
     * arrives, fails with {@link dev.livetap.codec.StreamFormatException}. Materializes the summary.
     */
    public static Flow<Frame, Section, CompletionStage<StreamSummary>> decoder(SectionResolver resolver) {
        return decoder(resolver, DecoderLimits.DEFAULT);
    }

    public static Flow<Frame, Section, CompletionStage<StreamSummary>> decoder(SectionResolver resolver,
                                                                            DecoderLimits limits) {
        return Flow.fromGraph(new DecodeStage(resolver, limits)).withAttributes(named("livetapDecode"));
    }

    /** The frames the channel receives; this source is the channel's only reader (it calls {@code start}). */
    public static Source<Frame, NotUsed> fromChannel(FrameChannel channel) {
        return fromChannel(channel, DEFAULT_BUFFER_FRAMES, false);
    }

    /**
     * @param bufferFrames       frames held before {@code pauseReading}
     * @param closeChannelOnStop close the channel when the source stops (otherwise reading is paused and
     *                           the channel stays open, e.g. for the return path)
     */
    public static Source<Frame, NotUsed> fromChannel(FrameChannel channel, int bufferFrames, boolean closeChannelOnStop) {
        return Source.fromGraph(new FrameChannelSource(channel, bufferFrames, closeChannelOnStop))
                .withAttributes(named("livetapChannelSource"));
    }

    /** Sends each frame; completes when all are in the kernel. The frames' fds stay the caller's. */
    public static Sink<Frame, CompletionStage<Done>> toChannel(FrameChannel channel) {
        return toChannel(channel, DEFAULT_MAX_IN_FLIGHT);
    }

    public static Sink<Frame, CompletionStage<Done>> toChannel(FrameChannel channel, int maxInFlight) {
        return Sink.fromGraph(new FrameChannelSink(channel, maxInFlight)).withAttributes(named("livetapChannelSink"));
    }

    /**
     * {@code graph} with every stage on {@value #STREAM_DISPATCHER}. The dispatcher is an attribute of
     * the whole graph, which is what the materializer reads for its first (here: only) island; it
     * adds no async boundary, so the graph stays one island: frames buffered between islands are
     * dropped, fds and all, when a downstream cancels.
     */
    public static <M> RunnableGraph<M> onStreamDispatcher(RunnableGraph<M> graph) {
        return graph.addAttributes(ActorAttributes.dispatcher(STREAM_DISPATCHER));
    }

    /** Only a name: the dispatcher comes from {@link #onStreamDispatcher} on the whole graph. */
    private static Attributes named(String name) {
        return Attributes.name(name);
    }
}
