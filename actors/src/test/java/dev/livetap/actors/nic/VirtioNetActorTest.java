package dev.livetap.actors.nic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.PeerState;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetRealizeCheck;
import dev.livetap.actors.tap.NetTapSchema;
import dev.livetap.actors.tap.TapBackendFactory;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.StateStruct;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The NIC's realize checks, host features and the cross-queue checks it runs before any queue takes an fd. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class VirtioNetActorTest {
    static final ActorTestKit KIT = ActorTestKit.create("nic");
    static final Duration WAIT = Duration.ofSeconds(5);
    InMemoryOs os;
    int openBefore;

    @BeforeEach
    void setUp() {
        os = new InMemoryOs();
        openBefore = OwnedFd.openCount();
    }

    @AfterEach
    void noLeak() {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (OwnedFd.openCount() != openBefore && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(openBefore, OwnedFd.openCount(), "every fd is closed: " + os.describeOpenFds());
    }

    @AfterAll
    static void stop() {
        KIT.shutdownTestKit();
    }

    private static TapNetdevOptions netdev(boolean incoming) {
        return TapNetdevOptions.fromQmp(incoming
                ? Map.of("type", "tap", "id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                        "script", "no", "downscript", "no")
                : Map.of("type", "tap", "id", "net0", "ifname", "tap0", "queues", 4));
    }

    private ActorRef<VirtioNetActor.Command> realize(boolean incoming, RunState runState) {
        TapBackendFactory f = new TapBackendFactory(netdev(incoming), os, null, List.of());
        TestProbe<VirtioNetActor.RealizeResult> p = KIT.createTestProbe();
        KIT.spawn(VirtioNetActor.create(new VirtioNetActor.NicConfig("nic0", Frames.GUEST_MAC, Frames.GUEST_IP, runState,
                WAIT, VmActor.DISPATCHER), f, os.fds(), p.getRef()));
        VirtioNetActor.Realized r = assertInstanceOf(VirtioNetActor.Realized.class, p.receiveMessage(WAIT));
        return r.nic();
    }

    private VirtioNetActor.LoadResult load(ActorRef<VirtioNetActor.Command> nic, Section s) {
        TestProbe<VirtioNetActor.LoadResult> p = KIT.createTestProbe();
        nic.tell(new VirtioNetActor.LoadSection(s, p.getRef()));
        return p.receiveMessage(WAIT);
    }

    private VirtioNetActor.NicInfo info(ActorRef<VirtioNetActor.Command> nic) {
        TestProbe<VirtioNetActor.NicInfo> p = KIT.createTestProbe();
        nic.tell(new VirtioNetActor.GetInfo(p.getRef()));
        return p.receiveMessage(WAIT);
    }

    /** A virtio-net section whose subsection carries {@code fds} (null entries: fd = -1); null list: no subsection. */
    static Section section(List<OwnedFd> fds, int maxQueuePairs) {
        int n = fds == null ? 0 : fds.size();
        Schema schema = VirtioNetSchema.schema(Collections.nCopies(Math.max(n, 1), NetTapSchema.SCHEMA));
        StateStruct g = schema.field("guest").schema().newStruct().setBytes("mac", Frames.GUEST_MAC.toBytes())
                .setUint("ip", 0x0A000002L);
        StateStruct s = schema.newStruct().setBytes("mac", Frames.GUEST_MAC.toBytes())
                .setUint("max_queue_pairs", maxQueuePairs).setUint("curr_queue_pairs", maxQueuePairs).setStruct("guest", g);
        if (fds != null) {
            List<StateStruct> states = new ArrayList<>();
            for (OwnedFd fd : fds) {
                states.add(NetTapSchema.SCHEMA.newStruct().setFd("fd", fd).setBool("using_vnet_hdr", true)
                        .setBool("enabled", true).setUint("host_vnet_hdr_len", 10));
            }
            s.setSubsection(schema.subsections().get(0).schema().newStruct().setUint("peers_len", n).setArray("peers", states));
        }
        return Section.of(VirtioNetSchema.sectionName("nic0"), 0, s);
    }

    private List<OwnedFd> queues(int n) {
        return new ArrayList<>(os.tun().openQueues("tap0", n, TunFlags.TAP_VNET_MQ));
    }

    private String refusal(ActorRef<VirtioNetActor.Command> nic, Section s) {
        VirtioNetActor.SectionLoadFailed f = assertInstanceOf(VirtioNetActor.SectionLoadFailed.class, load(nic, s));
        assertEquals(0, os.ledger().open() - openTapFdsOutsideTest, "a refused section's fds are all closed");
        return f.reason();
    }

    private int openTapFdsOutsideTest;

    @Test
    void waitingPeersOfferTheFullFeatureSetUntilTheSectionLoads() {
        ActorRef<VirtioNetActor.Command> nic = realize(true, RunState.INMIGRATE);
        VirtioNetActor.NicInfo before = info(nic);
        assertEquals(VirtioNetFeatures.FULL, before.hostFeatures(), "while peers wait, host features are the full set");
        assertEquals(true, before.peersWaitIncoming());
        List<OwnedFd> fds = queues(4);
        VirtioNetActor.SectionLoaded loaded = assertInstanceOf(VirtioNetActor.SectionLoaded.class, load(nic, section(fds, 4)));
        long expected = VirtioNetFeatures.nic(VirtioNetFeatures.backend(true, false, false, false), 4);
        assertEquals(expected, loaded.hostFeatures(), "recomputed from the loaded backends");
        assertEquals(expected, info(nic).hostFeatures());
        assertEquals(4, info(nic).queues().stream().filter(PeerBackend.Status::ownsResource).count());
        nic.tell(new VirtioNetActor.Unplug());
    }

    /**
     * A queue stand-in that records what it is asked and holds its answer to Stop until it has
     * answered a Rollback: the order in which a NIC whose migration fails during the stop sees the
     * answers (the rollback overtakes the stop), made deterministic.
     */
    private static Behavior<PeerBackend.Command> stopLaggingPeer(int q, List<String> asked) {
        return Behaviors.setup(ctx -> {
            List<PeerBackend.Stop> heldStops = new ArrayList<>();
            return Behaviors.receive(PeerBackend.Command.class)
                    .onMessage(PeerBackend.Describe.class, m -> {
                        m.replyTo().tell(new PeerBackend.Description(m.requestId(), q, NetTapSchema.SCHEMA, PeerState.CONNECTED,
                                VirtioNetFeatures.backend(true, false, false, false)));
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Stop.class, m -> {
                        asked.add(q + ":stop");
                        heldStops.add(m);
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Rollback.class, m -> {
                        asked.add(q + ":rollback");
                        m.replyTo().tell(new PeerBackend.Stopped(m.requestId(), q, 2));
                        heldStops.forEach(r -> r.replyTo().tell(new PeerBackend.Stopped(r.requestId(), q, 1)));
                        heldStops.clear();
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Save.class, m -> {
                        asked.add(q + ":save");
                        m.replyTo().tell(new PeerBackend.SaveFailed(m.requestId(), q, "stand-in"));
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.GetStatus.class, m -> {
                        m.replyTo().tell(new PeerBackend.Status(m.requestId(), q, "stand-in", false, true));
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Close.class, m -> Behaviors.stopped())
                    .onAnyMessage(m -> Behaviors.same())
                    .build();
        });
    }

    /**
     * Chaos finding (a source silent after failed + cont): the coordinator asks the save right
     * behind the stop, and the NIC holds that save until its queues have stopped. A migration that
     * fails in between sends Rollback, which went to the queues at once; the held save reached them
     * after it, so every queue ended handed over (its fd lent to a stream that no longer exists)
     * and refused to read on cont. A rollback must cancel the save it overtakes.
     */
    @Test
    void aRollbackBehindAStopCancelsTheSaveWaitingForIt() {
        List<String> asked = Collections.synchronizedList(new ArrayList<>());
        PeerBackendFactory f = new PeerBackendFactory() {
            @Override
            public String netdevId() {
                return "net0";
            }

            @Override
            public List<PeerState> peerStates() {
                return List.of(PeerState.CONNECTED, PeerState.CONNECTED);
            }

            @Override
            public Optional<String> ifname() {
                return Optional.of("tap0");
            }

            @Override
            public int vnetHdrLen() {
                return 10;
            }

            @Override
            public List<Behavior<PeerBackend.Command>> open(ActorRef<GuestActor.Command> guest) {
                return List.of(stopLaggingPeer(0, asked), stopLaggingPeer(1, asked));
            }
        };
        TestProbe<VirtioNetActor.RealizeResult> realized = KIT.createTestProbe();
        KIT.spawn(VirtioNetActor.create(new VirtioNetActor.NicConfig("nic0", Frames.GUEST_MAC, Frames.GUEST_IP, RunState.RUNNING,
                WAIT, VmActor.DISPATCHER), f, os.fds(), realized.getRef()));
        ActorRef<VirtioNetActor.Command> nic = assertInstanceOf(VirtioNetActor.Realized.class, realized.receiveMessage(WAIT)).nic();
        TestProbe<VirtioNetActor.Stopped> stopped = KIT.createTestProbe();
        TestProbe<VirtioNetActor.SaveResult> saved = KIT.createTestProbe();
        TestProbe<VirtioNetActor.RolledBack> rolledBack = KIT.createTestProbe();
        nic.tell(new VirtioNetActor.Stop(stopped.getRef()));
        nic.tell(new VirtioNetActor.SaveSection(true, saved.getRef()));
        nic.tell(new VirtioNetActor.Rollback(rolledBack.getRef()));
        rolledBack.receiveMessage(WAIT);
        stopped.receiveMessage(WAIT);
        VirtioNetActor.SaveResult save = saved.receiveMessage(WAIT);
        assertInstanceOf(VirtioNetActor.SectionSaveFailed.class, save, "the held save is answered: " + save);
        assertEquals("rolled back before the save", ((VirtioNetActor.SectionSaveFailed) save).reason());
        // a save that reached the queues now would come behind GetInfo's status requests: ask, then look
        info(nic);
        assertEquals(List.of("0:stop", "0:rollback"), asked.stream().filter(a -> a.startsWith("0:")).toList(),
                "queue 0 is never asked to save after its rollback");
        assertEquals(List.of("1:stop", "1:rollback"), asked.stream().filter(a -> a.startsWith("1:")).toList(),
                "queue 1 is never asked to save after its rollback");
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void tooFewFdsAreRefusedBeforeAnyQueueTakesOne() {
        ActorRef<VirtioNetActor.Command> nic = realize(true, RunState.INMIGRATE);
        List<OwnedFd> fds = queues(4);
        fds.get(3).close();
        fds.set(3, null);
        assertEquals("expected 4 fds (one per queue) but the stream carries 3", refusal(nic, section(fds, 4)));
        assertEquals(0, info(nic).queues().stream().filter(PeerBackend.Status::ownsResource).count(),
                "no queue took an fd");
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void tooManyPeerStatesAreRefused() {
        ActorRef<VirtioNetActor.Command> nic = realize(true, RunState.INMIGRATE);
        assertEquals("the stream carries 5 peer states but this NIC has 4 queues", refusal(nic, section(queues(5), 4)));
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void theSameOpenFileTwiceIsRefused() {
        ActorRef<VirtioNetActor.Command> nic = realize(true, RunState.INMIGRATE);
        List<OwnedFd> fds = queues(4);
        fds.get(2).close();
        fds.set(2, fds.get(0).dup());
        assertEquals("the fds of queues 0 and 2 are the same open file (kcmp): one TAP queue cannot serve two queues",
                refusal(nic, section(fds, 4)));
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void queuePairCountMustMatch() {
        ActorRef<VirtioNetActor.Command> nic = realize(true, RunState.INMIGRATE);
        assertEquals("the stream has max_queue_pairs=2 but this NIC has 4 queue pairs", refusal(nic, section(queues(4), 2)));
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void backendStateForPeersThatDoNotWaitIsRefused() {
        ActorRef<VirtioNetActor.Command> nic = realize(false, RunState.INMIGRATE);
        openTapFdsOutsideTest = 4; // the NIC's own queues
        List<OwnedFd> fds = new ArrayList<>(os.tun().openQueues("tap0", 4, TunFlags.TAP_VNET_MQ));
        assertEquals("the stream carries the backend (virtio-net-nic) but this NIC's peers do not wait for incoming"
                + " state (incoming-fds=off)", refusal(nic, section(fds, 4)));
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void waitingPeersNeedTheBackendState() {
        ActorRef<VirtioNetActor.Command> nic = realize(true, RunState.INMIGRATE);
        assertEquals("the stream carries no backend state ('local', backend-transfer or local-migration-supported off"
                + " on the source) but this NIC's peers wait for incoming fds", refusal(nic, section(null, 4)));
        nic.tell(new VirtioNetActor.Unplug());
    }

    @Test
    void realizeRefusesWaitingPeersOutsideAnIncomingMigration() {
        TapBackendFactory f = new TapBackendFactory(netdev(true), os, null, List.of());
        OptionException e = assertThrows(OptionException.class, () -> VirtioNetActor.realizeCheck(f, RunState.RUNNING));
        assertEquals("Peers wait for incoming, but it's not an incoming migration.", e.getMessage());
        assertEquals(0, os.ledger().open(), "a refused device opened nothing");
    }

    @Test
    void realizeRefusesMixedPeerStatesAndOpensNothing() {
        PeerBackendFactory mixed = new PeerBackendFactory() {
            @Override
            public String netdevId() {
                return "net0";
            }

            @Override
            public List<PeerState> peerStates() {
                return List.of(PeerState.CONNECTED, PeerState.WAITING_INCOMING);
            }

            @Override
            public Optional<String> ifname() {
                return Optional.empty();
            }

            @Override
            public int vnetHdrLen() {
                return 10;
            }

            @Override
            public List<Behavior<PeerBackend.Command>> open(ActorRef<GuestActor.Command> guest) {
                throw new AssertionError("a refused device must open nothing");
            }
        };
        TestProbe<VirtioNetActor.RealizeResult> p = KIT.createTestProbe();
        KIT.spawn(VirtioNetActor.create(new VirtioNetActor.NicConfig("nic0", Frames.GUEST_MAC, Ipv4Address.parse("10.0.0.2"),
                RunState.INMIGRATE, WAIT, VmActor.DISPATCHER), mixed, os.fds(), p.getRef()));
        assertEquals(new VirtioNetActor.RealizeFailed("nic0", VirtioNetRealizeCheck.MIXED_PEER_STATES), p.receiveMessage(WAIT));
        assertEquals("Mixed peer states: some peers wait for incoming migration while others don't",
                VirtioNetRealizeCheck.MIXED_PEER_STATES);
    }
}
