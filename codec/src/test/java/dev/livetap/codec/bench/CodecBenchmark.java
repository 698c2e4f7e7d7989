package dev.livetap.codec.bench;

import com.typesafe.config.ConfigFactory;
import dev.livetap.codec.FakeFds;
import dev.livetap.codec.Fixtures;
import dev.livetap.codec.FrameChecksum;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StateStruct;
import dev.livetap.codec.StreamDecoder;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.codec.StreamHeader;
import dev.livetap.codec.pekko.MigrationStreamFlows;
import dev.livetap.nativeio.Frame;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.concurrent.TimeUnit;

/**
 * Codec throughput: encode and decode of an 8-queue virtio-net section (fake fds), the frame
 * checksum of that section alone, and frames/s through the Pekko encode + decode flow pair. Each
 * encode or decode op includes a fresh encoder or decoder and its header frame, as a real stream
 * would.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class CodecBenchmark {
    static final int FLOW_SECTIONS = 1000;

    private final FakeFds fds = FakeFds.untracked();
    private Schema schema;
    private Section section;
    private Frame header;
    private Frame encoded;
    private byte[] encodedPayload;
    private SectionResolver resolver;
    private ActorSystem system;

    @Setup
    public void setUp() {
        schema = Fixtures.virtioNet(2);
        StateStruct s = Fixtures.virtioNetState(schema, 8, fds, 0);
        section = Section.of(0, s);
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "bench", Fixtures.MACHINE));
        header = enc.header();
        encoded = enc.section(section);
        encodedPayload = encoded.payload();
        resolver = SectionResolver.of(schema);
        system = ActorSystem.create("codec-bench", ConfigFactory.load());
    }

    @TearDown
    public void tearDown() throws Exception {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
        section.close();
    }

    @Benchmark
    public Frame encodeSection8Queues() {
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "bench", Fixtures.MACHINE));
        enc.header();
        return enc.section(section);
    }

    @Benchmark
    public int decodeSection8Queues() {
        StreamDecoder dec = new StreamDecoder(resolver);
        dec.accept(header);
        Section s = dec.accept(Fixtures.transfer(encoded));
        int n = s.struct().fds().size();
        s.close();
        return n;
    }

    /** The frame checksum alone (format 2) over that section frame: what sealing or verifying it adds. */
    @Benchmark
    public int checksumSection8Queues() {
        return FrameChecksum.compute(encodedPayload, 0, encodedPayload.length - FrameChecksum.BYTES);
    }

    @Benchmark
    @OperationsPerInvocation(FLOW_SECTIONS)
    public Object flowPairEncodeDecode8Queues() throws Exception {
        return Source.repeat(section).take(FLOW_SECTIONS)
                .zipWithIndex()
                .map(p -> Section.of(p.second().intValue(), p.first().struct()))
                .via(MigrationStreamFlows.encoder(StreamHeader.of(1, "bench", Fixtures.MACHINE)))
                .map(Fixtures::transfer)
                .via(MigrationStreamFlows.decoder(resolver))
                .runWith(Sink.fold(0, (n, s) -> {
                    s.close();
                    return n + 1;
                }), system)
                .toCompletableFuture().get(60, TimeUnit.SECONDS);
    }
}
