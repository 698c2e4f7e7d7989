package dev.livetap.actors.tap;

import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.nic.PeerBackend;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.BehaviorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestInbox;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Every TapActor transition and every fd check, as pure state logic over the in-memory OS. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class TapActorTest {
    private static final int Q = 4;
    private InMemoryOs os;
    private int openBefore;
    private final TestInbox<TapActor.Received> frames = TestInbox.create();

    @BeforeEach
    void setUp() {
        os = new InMemoryOs();
        openBefore = OwnedFd.openCount();
    }

    @AfterEach
    void noLeak() {
        assertEquals(openBefore, OwnedFd.openCount(), "every fd a test opened or received is closed by its owner");
    }

    private static TapQueueConfig config(int index) {
        return new TapQueueConfig("net0", "tap0", index, Q, true);
    }

    private List<OwnedFd> openQueues() {
        return os.tun().openQueues("tap0", Q, TunFlags.TAP_VNET_MQ);
    }

    private static NetTapState state(OwnedFd fd, boolean enabled) {
        return new NetTapState(fd, true, false, false, false, enabled, 10);
    }

    private <T> T ask(BehaviorTestKit<TapActor.Command> kit, java.util.function.Function<org.apache.pekko.actor.typed.ActorRef<T>, TapActor.Command> m) {
        TestInbox<T> inbox = TestInbox.create();
        kit.run(m.apply(inbox.getRef()));
        return inbox.receiveMessage();
    }

    private PeerBackend.LoadReply load(BehaviorTestKit<TapActor.Command> kit, NetTapState s) {
        return this.<PeerBackend.LoadReply>ask(kit, to -> new TapActor.Load(0, s, to));
    }

    private PeerBackend.Status state(BehaviorTestKit<TapActor.Command> kit) {
        return ask(kit, to -> new TapActor.GetState(0, to));
    }

    @Test
    void openedQueueGoesPausedActivePausedTransferredAndBack() {
        List<OwnedFd> fds = openQueues();
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(0), os, frames.getRef(), fds.get(0), TapFeatures.NONE));
        assertEquals("paused", state(kit).state(), "an opened queue starts paused: the VM starts it");
        assertTrue(this.<PeerBackend.Started>ask(kit, to -> new TapActor.Resume(0, to)).reading());
        assertEquals("active", state(kit).state());
        assertTrue(state(kit).reading(), "an active queue reads");
        PeerBackend.SaveReply refused = this.<PeerBackend.SaveReply>ask(kit, to -> new TapActor.Save(0, to));
        assertInstanceOf(PeerBackend.SaveFailed.class, refused, "a reading queue's state cannot be saved");
        assertInstanceOf(PeerBackend.Stopped.class, this.<PeerBackend.Stopped>ask(kit, to -> new TapActor.Pause(0, to)));
        assertEquals("paused", state(kit).state());
        PeerBackend.SaveReply saved = this.<PeerBackend.SaveReply>ask(kit, to -> new TapActor.Save(0, to));
        PeerBackend.Saved s = assertInstanceOf(PeerBackend.Saved.class, saved, "a paused queue lends its state");
        assertTrue(s.state().fds().get(0).isOpen(), "the saved fd stays open: the source may still roll back");
        assertEquals("transferred", state(kit).state());
        assertFalse(this.<PeerBackend.Started>ask(kit, to -> new TapActor.Resume(0, to)).reading(),
                "a transferred queue refuses to read");
        assertFalse(state(kit).reading(), "a transferred queue never reads again before a rollback");
        assertInstanceOf(PeerBackend.Stopped.class, this.<PeerBackend.Stopped>ask(kit, to -> new TapActor.Rollback(0, to)));
        assertEquals("paused", state(kit).state(), "rollback brings the queue back paused with its fd");
        assertTrue(fds.get(0).isOpen());
        assertTrue(this.<PeerBackend.Started>ask(kit, to -> new TapActor.Resume(0, to)).reading());
        assertTrue(state(kit).reading(), "after a rollback, cont makes the queue read again");
        this.<PeerBackend.Stopped>ask(kit, to -> new TapActor.Pause(0, to));
        this.<PeerBackend.SaveReply>ask(kit, to -> new TapActor.Save(0, to));
        kit.run(new TapActor.Release());
        assertEquals("closed", state(kit).state(), "release after 'loaded' closes the queue");
        assertFalse(fds.get(0).isOpen(), "the released fd is closed: the TAP is the target's now");
        fds.subList(1, Q).forEach(OwnedFd::close);
    }

    @Test
    void saveInTransferredAndSetEnabledDuringHandOverAreRefused() {
        List<OwnedFd> fds = openQueues();
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(1), os, frames.getRef(), fds.get(1), TapFeatures.NONE));
        this.<PeerBackend.SaveReply>ask(kit, to -> new TapActor.Save(0, to));
        assertEquals("tap0 queue 1 is already handed over",
                ((PeerBackend.SaveFailed) this.<PeerBackend.SaveReply>ask(kit, to -> new TapActor.Save(0, to))).reason());
        TapActor.EnabledReply r = ask(kit, (org.apache.pekko.actor.typed.ActorRef<TapActor.EnabledReply> to) -> new TapActor.SetEnabled(false, to));
        assertEquals("queue state cannot change during a hand-over", r.error(),
                "TUNSETQUEUE never happens during a hand-over");
        kit.run(new TapActor.Close());
        assertFalse(fds.get(1).isOpen(), "close closes the owned fd");
        OwnedFd.closeAll(List.of(fds.get(0), fds.get(2), fds.get(3)));
    }

    @Test
    void setEnabledMapsToTunSetQueue() {
        List<OwnedFd> fds = openQueues();
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(2), os, frames.getRef(), fds.get(2), TapFeatures.NONE));
        TapActor.EnabledReply r = ask(kit, (org.apache.pekko.actor.typed.ActorRef<TapActor.EnabledReply> to) -> new TapActor.SetEnabled(false, to));
        assertTrue(r.ok(), "disable succeeds on a paused queue: " + r.error());
        assertTrue(os.tun().info(fds.get(2)).detached(), "disable detaches the queue (TUNSETQUEUE IFF_DETACH_QUEUE)");
        ask(kit, (org.apache.pekko.actor.typed.ActorRef<TapActor.EnabledReply> to) -> new TapActor.SetEnabled(true, to));
        assertFalse(os.tun().info(fds.get(2)).detached(), "enable attaches it again");
        kit.run(new TapActor.Close());
        OwnedFd.closeAll(List.of(fds.get(0), fds.get(1), fds.get(3)));
    }

    @Test
    void preLoadOnAnInitialisedQueueIsRefusedAndClosesTheIncomingFd() {
        List<OwnedFd> fds = openQueues();
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(0), os, frames.getRef(), fds.get(0), TapFeatures.NONE));
        PeerBackend.LoadReply r = load(kit, state(fds.get(1), true));
        assertEquals(new PeerBackend.LoadFailed(0, 0, TapActor.ALREADY_INITIALIZED), r);
        assertEquals("TAP is already initialized and cannot receive incoming fd", TapActor.ALREADY_INITIALIZED);
        assertFalse(fds.get(1).isOpen(), "a refused incoming fd is closed");
        assertTrue(fds.get(0).isOpen(), "the queue's own fd is untouched");
        kit.run(new TapActor.Close());
        OwnedFd.closeAll(List.of(fds.get(2), fds.get(3)));
    }

    private String loadFailure(TapQueueConfig config, NetTapState s) {
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(TapActor.waitingIncoming(config, os, frames.getRef()));
        PeerBackend.LoadReply r = load(kit, s);
        PeerBackend.LoadFailed f = assertInstanceOf(PeerBackend.LoadFailed.class, r, "the state must be refused");
        if (s.fd() != null) {
            assertFalse(s.fd().isOpen(), "a refused incoming fd is closed: " + f.reason());
        }
        assertEquals("waiting-incoming", state(kit).state(), "a refused load leaves the queue waiting");
        return f.reason();
    }

    @Test
    void postLoadFailsWithoutAnFd() {
        assertEquals("tap0 queue 0: the incoming state carries no fd (fd = -1)", loadFailure(config(0), state(null, true)));
    }

    @Test
    void anFdThatIsNotATunIsRefused() {
        OwnedFd notTun = os.openFake(FdKind.OTHER_CHAR_DEVICE, "/dev/null");
        assertEquals("fd for tap0 queue 0 is not a TAP queue (fstat: OTHER_CHAR_DEVICE, expected character device 10:200)",
                loadFailure(config(0), state(notTun, true)));
        OwnedFd[] pipe = os.fds().pipe();
        pipe[1].close();
        assertTrue(loadFailure(config(0), state(pipe[0], true)).contains("is not a TAP queue (fstat: PIPE"),
                "a pipe is not a TAP queue");
    }

    @Test
    void anFdOfAnotherInterfaceIsRefused() {
        List<OwnedFd> other = os.tun().openQueues("tap9", 1, TunFlags.IFF_TAP | TunFlags.IFF_NO_PI | TunFlags.IFF_VNET_HDR);
        TapQueueConfig single = new TapQueueConfig("net0", "tap0", 0, 1, true);
        assertEquals("fd for tap0 queue 0 belongs to interface tap9, expected tap0", loadFailure(single, state(other.get(0), true)));
    }

    @Test
    void anFdWithOtherFlagsIsRefused() {
        List<OwnedFd> noVnet = os.tun().openQueues("tap0", Q, TunFlags.IFF_TAP | TunFlags.IFF_NO_PI | TunFlags.IFF_MULTI_QUEUE);
        String reason = loadFailure(config(0), state(noVnet.get(0), true));
        assertEquals("fd for tap0 queue 0 has flags 0x1102, expected 0x5102", reason,
                "the flags must be the netdev's (vnet_hdr on, multi-queue)");
        OwnedFd.closeAll(noVnet.subList(1, Q));
    }

    @Test
    void detachedVersusEnabledIsRefusedBothWays() {
        List<OwnedFd> fds = openQueues();
        os.tun().setQueueAttached(fds.get(0), false);
        assertEquals("fd for tap0 queue 0 is detached (IFF_DETACH_QUEUE) but the queue is enabled",
                loadFailure(config(0), state(fds.get(0), true)));
        assertEquals("fd for tap0 queue 1 is attached but the queue is disabled",
                loadFailure(config(1), state(fds.get(1), false)));
        OwnedFd.closeAll(fds.subList(2, Q));
    }

    @Test
    void usingVnetHdrMustMatchTheNetdev() {
        List<OwnedFd> fds = openQueues();
        NetTapState s = new NetTapState(fds.get(0), false, false, false, false, true, 0);
        assertEquals("fd for tap0 queue 0: using_vnet_hdr=false but this netdev has vnet_hdr=true", loadFailure(config(0), s));
        NetTapState twelve = new NetTapState(fds.get(1), true, false, false, false, true, 12);
        assertEquals("fd for tap0 queue 1: host_vnet_hdr_len=12 but the device's TUNGETVNETHDRSZ is 10",
                loadFailure(config(1), twelve));
        OwnedFd.closeAll(fds.subList(2, Q));
    }

    @Test
    void postLoadSetsUpVhostOrFailsWithQemusText() {
        List<OwnedFd> fds = openQueues();
        RecordingVhostBackend vhost = new RecordingVhostBackend().failSetUp(1);
        VhostBackend.VhostQueue v0 = vhost.open(0);
        VhostBackend.VhostQueue v1 = vhost.open(1);
        BehaviorTestKit<TapActor.Command> ok = BehaviorTestKit.create(
                TapActor.waitingIncoming(config(0), os, frames.getRef()::tell, vhost, v0));
        assertInstanceOf(PeerBackend.Loaded.class, load(ok, state(fds.get(0), true)));
        assertEquals(new RecordingVhostBackend.SetUp(0, v0.handle(), fds.get(0).number()), vhost.calls().get(2),
                "post_load binds the vhost queue opened at netdev creation to the fd that arrived");
        assertEquals("paused", state(ok).state(), "post_load arms the queue; it reads once the VM runs");
        BehaviorTestKit<TapActor.Command> failing = BehaviorTestKit.create(
                TapActor.waitingIncoming(config(1), os, frames.getRef()::tell, vhost, v1));
        PeerBackend.LoadReply r = load(failing, state(fds.get(1), true));
        assertEquals(new PeerBackend.LoadFailed(0, 1, "Failed to setup vhost during TAP post-load: injected failure"), r);
        assertFalse(fds.get(1).isOpen(), "a failed post_load closes the fd");
        PeerBackend.Discarded d = ask(ok, to -> new TapActor.Discard(0, to));
        assertTrue(d.closedSomething(), "discard closes the fd that arrived");
        assertFalse(fds.get(0).isOpen());
        assertEquals("waiting-incoming", state(ok).state());
        failing.run(new TapActor.Close());
        ok.run(new TapActor.Close());
        assertEquals(0, vhost.liveCount(), "every vhost queue is torn down");
        OwnedFd.closeAll(fds.subList(2, Q));
    }

    @Test
    void waitingQueueLoadsThenReadsOnResume() {
        List<OwnedFd> fds = openQueues();
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(TapActor.waitingIncoming(config(3), os, frames.getRef()));
        assertEquals(new PeerBackend.Status(0, 3, "waiting-incoming", false, false), state(kit));
        assertEquals(3, assertInstanceOf(PeerBackend.Loaded.class, load(kit, state(fds.get(3), true))).queue());
        PeerBackend.Status s = state(kit);
        assertEquals("paused", s.state());
        assertTrue(s.ownsResource(), "the loaded fd is the queue's");
        assertEquals(TapActor.ALREADY_INITIALIZED,
                ((PeerBackend.LoadFailed) load(kit, state(fds.get(2), true))).reason(),
                "a second load on a loaded queue is pre_load's refusal");
        kit.run(new TapActor.Close());
        assertFalse(fds.get(3).isOpen());
        OwnedFd.closeAll(fds.subList(0, 2));
    }
}
