package dev.livetap.codec.pekko;

import com.typesafe.config.ConfigFactory;
import dev.livetap.codec.FakeFds;
import dev.livetap.codec.Fixtures;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StateStruct;
import dev.livetap.codec.StreamFormatException;
import dev.livetap.codec.StreamHeader;
import dev.livetap.codec.StreamSummary;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;
import org.apache.pekko.Done;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MigrationStreamFlowsTest {
    private static ActorSystem system;
    private FakeFds fds;
    private FakeChannel source;
    private FakeChannel target;
    private int openBefore;

    @BeforeAll
    static void startSystem() {
        system = ActorSystem.create("codec-test", ConfigFactory.load());
    }

    @AfterAll
    static void stopSystem() throws Exception {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @BeforeEach
    void setUp() {
        fds = new FakeFds();
        List<FakeChannel> p = FakeChannel.pair();
        source = p.get(0);
        target = p.get(1);
        openBefore = OwnedFd.openCount();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        source.close();
        target.close();
        source.shutdown();
    }

    private void assertNoFdLeft(List<OwnedFd> sourceFds) {
        OwnedFd.closeAll(sourceFds);
        await().atMost(Duration.ofSeconds(5)).until(() -> fds.leaked().isEmpty());
        assertEquals(List.of(), fds.closedTwice(), "no fd may be closed twice");
        assertEquals(openBefore, OwnedFd.openCount(), "every fd sent or received is closed by its owner");
    }

    private static <T> T get(CompletionStage<T> s) throws Exception {
        return s.toCompletableFuture().get(20, TimeUnit.SECONDS);
    }

    @Test
    void twoNicStreamCrossesTheChannelWithItsFdsOnTheStreamDispatcher() throws Exception {
        Schema nic = Fixtures.virtioNet(2);
        StateStruct s0 = Fixtures.virtioNetState(nic, 8, fds, 0);
        StateStruct s1 = Fixtures.virtioNetState(nic, 2, fds, 1);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        SectionResolver resolver = (name, inst) -> {
            threads.add(Thread.currentThread().getName());
            return nic;
        };

        Pair<CompletionStage<StreamSummary>, CompletionStage<List<Section>>> rx =
                MigrationStreamFlows.onStreamDispatcher(MigrationStreamFlows.fromChannel(target)
                        .viaMat(MigrationStreamFlows.decoder(resolver), Keep.right())
                        .toMat(Sink.seq(), Keep.both()))
                        .run(system);
        CompletionStage<Done> tx = MigrationStreamFlows.onStreamDispatcher(
                Source.from(List.of(Section.of("nic0", 0, s0), Section.of("nic1", 1, s1)))
                .via(MigrationStreamFlows.encoder(StreamHeader.of(77, "src", Fixtures.MACHINE)))
                .toMat(MigrationStreamFlows.toChannel(source), Keep.right()))
                .run(system);

        get(tx);
        List<Section> loaded = get(rx.second());
        StreamSummary summary = get(rx.first());
        assertEquals(2, summary.sections(), "the summary counts both sections");
        assertEquals("src", summary.header().processName(), "the header names the sender");
        assertTrue(s0.sameContent(loaded.get(0).struct()) && s1.sameContent(loaded.get(1).struct()),
                "both NICs arrive intact and in order");
        assertEquals(8, loaded.get(0).struct().fds().size(), "NIC 0's 8 queue fds arrive with it");
        assertTrue(threads.stream().allMatch(t -> t.contains("livetap.dispatchers.stream")),
                "decoding runs on the livetap.dispatchers.stream dispatcher, not " + threads);
        loaded.forEach(Section::close);
        List<OwnedFd> src = new ArrayList<>(s0.fds());
        src.addAll(s1.fds());
        assertNoFdLeft(src);
    }

    @Test
    void slowConsumerPausesReadingAndLosesNothing() throws Exception {
        Schema small = Schema.builder("q", 1).u32("i").fd("fd").build();
        List<Section> sections = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            sections.add(Section.of(i, small.newStruct().setUint("i", i).setFd("fd", fds.open())));
        }
        CompletionStage<List<Section>> rx = MigrationStreamFlows.fromChannel(target, 8, false)
                .via(MigrationStreamFlows.decoder(SectionResolver.of(small)))
                .throttle(100, Duration.ofMillis(100))
                .runWith(Sink.seq(), system);
        get(Source.from(sections).via(MigrationStreamFlows.encoder(StreamHeader.of(1, "src", "m")))
                .runWith(MigrationStreamFlows.toChannel(source), system));
        List<Section> loaded = get(rx);
        assertEquals(300, loaded.size(), "every section arrives");
        for (int i = 0; i < 300; i++) {
            assertEquals(i, loaded.get(i).struct().getUint("i"), "in order");
        }
        assertTrue(target.pauses.get() > 0, "a slow consumer must make the source pause reading");
        loaded.forEach(Section::close);
        List<OwnedFd> src = new ArrayList<>();
        sections.forEach(s -> src.addAll(s.struct().fds()));
        assertNoFdLeft(src);
    }

    @Test
    void malformedFrameFailsTheStreamAndClosesItsFds() throws Exception {
        Pair<CompletionStage<StreamSummary>, CompletionStage<List<Section>>> rx =
                MigrationStreamFlows.fromChannel(target)
                        .viaMat(MigrationStreamFlows.decoder(SectionResolver.of()), Keep.right())
                        .toMat(Sink.seq(), Keep.both())
                        .run(system);
        OwnedFd a = fds.open();
        OwnedFd b = fds.open();
        get(source.send(new dev.livetap.codec.StreamEncoder(StreamHeader.of(1, "p", "m")).header().payload(), List.of()));
        get(source.send(new byte[] {4, (byte) 0x9F, 1, 2}, List.of(a, b)));
        ExecutionException e = assertThrows(ExecutionException.class, () -> get(rx.second()),
                "a malformed frame fails the stream");
        assertInstanceOf(StreamFormatException.class, e.getCause(), "with the documented exception");
        assertInstanceOf(StreamFormatException.class,
                assertThrows(ExecutionException.class, () -> get(rx.first())).getCause(), "and the summary fails too");
        assertNoFdLeft(List.of(a, b));
    }

    @Test
    void channelEndingBeforeTheEndMarkerFailsAsTruncated() throws Exception {
        Schema small = Schema.builder("q", 1).fd("fd").build();
        CompletionStage<List<Section>> rx = MigrationStreamFlows.fromChannel(target)
                .via(MigrationStreamFlows.decoder(SectionResolver.of(small)))
                .map(s -> {
                    s.close(); // the consumer owns each section it receives
                    return s;
                })
                .runWith(Sink.seq(), system);
        dev.livetap.codec.StreamEncoder enc = new dev.livetap.codec.StreamEncoder(StreamHeader.of(1, "p", "m"));
        OwnedFd fd = fds.open();
        Frame h = enc.header();
        Frame s = enc.section(Section.of(0, small.newStruct().setFd("fd", fd)));
        get(source.send(h.payload(), h.fds()));
        get(source.send(s.payload(), s.fds()));
        source.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> get(rx));
        assertInstanceOf(StreamFormatException.class, e.getCause(), "an early end is the documented exception");
        assertEquals(StreamFormatException.Reason.TRUNCATED, ((StreamFormatException) e.getCause()).reason(),
                "reported as truncated: " + e.getCause().getMessage());
        assertNoFdLeft(List.of(fd));
    }

    @Test
    void framesQueuedOrArrivingAfterTheSourceStopsAreClosed() throws Exception {
        CompletionStage<List<Frame>> rx = MigrationStreamFlows.fromChannel(target).take(1).runWith(Sink.seq(), system);
        List<OwnedFd> sent = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            OwnedFd f = fds.open();
            sent.add(f);
            get(source.send(new byte[] {(byte) i}, List.of(f)));
        }
        List<Frame> got = get(rx);
        assertEquals(1, got.size(), "take(1) gets one frame");
        got.get(0).close();
        target.close(); // frames the stopped source left unread in the channel die with it, as in the kernel
        assertNoFdLeft(sent);
    }

    @Test
    void encoderFlowEmitsHeaderSectionsEndAndDescription() throws Exception {
        Schema small = Schema.builder("q", 1).u8("x").build();
        List<Frame> frames = get(Source.from(List.of(Section.of(0, small.newStruct()), Section.of(1, small.newStruct())))
                .via(MigrationStreamFlows.encoder(StreamHeader.of(1, "p", "m")))
                .runWith(Sink.seq(), system));
        assertEquals(5, frames.size(), "header + 2 sections + end + description");
        assertEquals('L', frames.get(0).payload()[0], "header first");
        assertEquals(6, frames.get(4).payload()[0], "description last");
        List<Frame> empty = get(Source.<Section>empty().via(MigrationStreamFlows.encoder(StreamHeader.of(1, "p", "m")))
                .runWith(Sink.seq(), system));
        assertEquals(3, empty.size(), "an empty stream is header, end marker, description");
    }
}
