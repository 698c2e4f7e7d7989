package dev.livetap.actors.tap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.testkit.typed.javadsl.BehaviorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestInbox;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * TapActor's supervision (resume): a handler that throws, in each state that holds or waits for an
 * fd, leaves the queue in that state with the same fd, one reactor registration (no second reader),
 * and closes nothing — a transferred fd stays open for the frame that borrows it. The throw is a
 * real one: a {@code Load} whose state is missing (null) fails inside the handler in every state.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class TapActorSupervisionTest {
    private static final int Q = 2;
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
        assertEquals(openBefore, OwnedFd.openCount(), "every fd a test opened is closed by its owner, none twice");
    }

    private static TapQueueConfig config() {
        return new TapQueueConfig("net0", "tap0", 0, Q, true);
    }

    private <T> T ask(BehaviorTestKit<TapActor.Command> kit, Function<ActorRef<T>, TapActor.Command> m) {
        TestInbox<T> inbox = TestInbox.create();
        kit.run(m.apply(inbox.getRef()));
        return inbox.receiveMessage();
    }

    private String state(BehaviorTestKit<TapActor.Command> kit) {
        return this.<PeerBackend.Status>ask(kit, to -> new TapActor.GetState(0, to)).state();
    }

    /** Throws inside the handler; the resumed queue answers nothing for the lost message. */
    private static void crash(BehaviorTestKit<TapActor.Command> kit) {
        TestInbox<PeerBackend.LoadReply> lost = TestInbox.create();
        kit.run(new TapActor.Load(0, null, lost.getRef()));
        assertFalse(lost.hasMessages(), "the message whose handler threw is lost, not answered");
        assertTrue(kit.isAlive(), "resume: the queue survives the throw");
    }

    private int registrations() {
        return os.reactor().registrationCount();
    }

    @Test
    void aQueueThatThrowsWhilePausedStaysPausedWithOneRegistrationAndItsFd() {
        List<OwnedFd> fds = os.tun().openQueues("tap0", Q, TunFlags.TAP_VNET_MQ);
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(), os, frames.getRef(), fds.get(0), TapFeatures.NONE));
        int registered = registrations();
        crash(kit);
        assertEquals("paused", state(kit), "a paused queue that throws stays paused");
        assertEquals(registered, registrations(), "no second registration of the fd: never a second reader");
        assertTrue(fds.get(0).isOpen(), "the queue keeps its fd");
        assertTrue(this.<PeerBackend.Started>ask(kit, to -> new TapActor.Resume(0, to)).reading(),
                "the resumed queue still reads on cont");
        kit.run(new TapActor.Close());
        assertFalse(fds.get(0).isOpen(), "Close still closes the fd after a throw");
        fds.get(1).close();
    }

    @Test
    void anActiveQueueThatThrowsKeepsReading() {
        List<OwnedFd> fds = os.tun().openQueues("tap0", Q, TunFlags.TAP_VNET_MQ);
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(), os, frames.getRef(), fds.get(0), TapFeatures.NONE));
        ask(kit, (ActorRef<PeerBackend.Started> to) -> new TapActor.Resume(0, to));
        int registered = registrations();
        crash(kit);
        assertEquals("active", state(kit));
        assertEquals(registered, registrations());
        assertInstanceOf(PeerBackend.Stopped.class, this.<PeerBackend.Stopped>ask(kit, to -> new TapActor.Pause(0, to)),
                "the queue still stops on a frame boundary for the migration");
        kit.run(new TapActor.Close());
        fds.get(1).close();
    }

    @Test
    void aTransferredQueueThatThrowsNeverClosesTheFdAFrameBorrows() {
        List<OwnedFd> fds = os.tun().openQueues("tap0", Q, TunFlags.TAP_VNET_MQ);
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.opened(config(), os, frames.getRef(), fds.get(0), TapFeatures.NONE));
        PeerBackend.Saved saved = assertInstanceOf(PeerBackend.Saved.class,
                this.<PeerBackend.SaveReply>ask(kit, to -> new TapActor.Save(0, to)));
        OwnedFd lent = saved.state().fds().get(0);
        int registered = registrations();
        crash(kit);
        assertEquals("transferred", state(kit), "a transferred queue that throws stays transferred");
        assertTrue(lent.isOpen(), "the fd lent to the stream stays open (its number must not be reused)");
        assertEquals(registered, registrations(), "a transferred queue is not registered again");
        assertFalse(this.<PeerBackend.Started>ask(kit, to -> new TapActor.Resume(0, to)).reading(),
                "still at most one reader: the handed-over queue refuses to read");
        assertInstanceOf(PeerBackend.Stopped.class, this.<PeerBackend.Stopped>ask(kit, to -> new TapActor.Rollback(0, to)));
        assertEquals("paused", state(kit), "the rollback still brings the queue back with its fd");
        kit.run(new TapActor.Release());
        assertTrue(lent.isOpen(), "a paused queue lent nothing: a release keeps its fd (the VM's end closes it)");
        kit.run(new TapActor.Close());
        assertFalse(lent.isOpen());
        fds.get(1).close();
    }

    @Test
    void aWaitingQueueThatThrowsStillLoadsTheNextState() {
        List<OwnedFd> fds = os.tun().openQueues("tap0", Q, TunFlags.TAP_VNET_MQ);
        BehaviorTestKit<TapActor.Command> kit = BehaviorTestKit.create(
                TapActor.waitingIncoming(config(), os, frames.getRef()));
        crash(kit);
        assertEquals("waiting-incoming", state(kit));
        PeerBackend.LoadReply r = this.<PeerBackend.LoadReply>ask(kit, to -> new TapActor.Load(0,
                new NetTapState(fds.get(0), true, false, false, false, true, 10), to));
        assertInstanceOf(PeerBackend.Loaded.class, r, "a resumed waiting queue takes the fd that arrives next");
        kit.run(new TapActor.Close());
        assertFalse(fds.get(0).isOpen(), "the loaded fd is the queue's and closes with it");
        fds.get(1).close();
    }
}
