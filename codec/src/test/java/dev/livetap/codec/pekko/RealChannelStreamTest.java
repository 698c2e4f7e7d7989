package dev.livetap.codec.pekko;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.livetap.codec.FakeFds;
import dev.livetap.codec.Fixtures;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StateStruct;
import dev.livetap.codec.StreamHeader;
import dev.livetap.codec.StreamSummary;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The codec's flows over the real framing layer on a real AF_UNIX socket pair, with real fds
 * (pipe ends) in every queue's {@code net-tap} state: each fd arrives as a new descriptor for
 * the same open file (kcmp), in its own section's frame.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RealChannelStreamTest {
    @Test
    void twoNicsWithEightQueuesEachCrossARealSocketWithRealFds() throws Exception {
        Os os = JnaOs.instance();
        os.reactor();
        FdCounter counter = FdCounter.snapshot();
        ActorSystem system = ActorSystem.create("codec-real", ConfigFactory.load());
        List<OwnedFd> pipeEnds = new ArrayList<>();
        List<OwnedFd> sentFds = new ArrayList<>();
        List<Section> loaded = new ArrayList<>();
        OwnedFd[] ends = os.unix().socketPair();
        FrameChannel source = UnixFrameChannel.open(os, ends[0], ChannelLimits.DEFAULT);
        FrameChannel target = UnixFrameChannel.open(os, ends[1], ChannelLimits.DEFAULT);
        try {
            Schema schema = Fixtures.virtioNet(2);
            List<Section> sections = new ArrayList<>();
            for (int nic = 0; nic < 2; nic++) {
                StateStruct state = Fixtures.virtioNetState(schema, 8, FakeFds.untracked(), nic);
                for (StateStruct peer : state.subsection("virtio-net-nic").getArray("peers")) {
                    OwnedFd[] pipe = os.fds().pipe();
                    pipeEnds.add(pipe[1]);
                    peer.getFd("fd").close(); // the fixture's stand-in, replaced by a real fd
                    peer.setFd("fd", pipe[0]);
                    sentFds.add(pipe[0]);
                }
                sections.add(Section.of(nic, state));
            }

            Pair<CompletionStage<StreamSummary>, CompletionStage<List<Section>>> received =
                    MigrationStreamFlows.fromChannel(target)
                            .viaMat(MigrationStreamFlows.decoder(SectionResolver.of(schema)), Keep.right())
                            .toMat(Sink.seq(), Keep.both())
                            .run(system);
            Source.from(sections)
                    .via(MigrationStreamFlows.encoder(StreamHeader.of(ProcessHandle.current().pid(), "test", Fixtures.MACHINE)))
                    .runWith(MigrationStreamFlows.toChannel(source), system)
                    .toCompletableFuture().get(20, TimeUnit.SECONDS);
            loaded.addAll(received.second().toCompletableFuture().get(20, TimeUnit.SECONDS));
            StreamSummary summary = received.first().toCompletableFuture().get(20, TimeUnit.SECONDS);

            assertEquals(2, loaded.size(), "both NIC sections arrive");
            assertEquals(2, summary.sections(), "the summary counts both sections: " + summary);
            int q = 0;
            for (Section s : loaded) {
                assertTrue(sections.get(s.instanceId()).struct().sameContent(s.struct()), "NIC " + s.instanceId() + " state round trips");
                for (StateStruct peer : s.struct().subsection("virtio-net-nic").getArray("peers")) {
                    OwnedFd got = peer.getFd("fd");
                    assertEquals(FdKind.PIPE, os.fds().kind(got), "a real fd arrives as the same kind of file");
                    assertTrue(sentFds.stream().anyMatch(sent -> os.fds().sameOpenFile(sent, got)),
                            "queue fd " + q + " is a new descriptor of an open file the source sent (kcmp)");
                    q++;
                }
            }
            assertEquals(16, q, "16 queue fds arrive, 8 per NIC");
        } finally {
            loaded.forEach(Section::close);
            source.close();
            target.close();
            OwnedFd.closeAll(sentFds);
            OwnedFd.closeAll(pipeEnds);
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5)).untilAsserted(counter::assertNoLeak);
    }
}
