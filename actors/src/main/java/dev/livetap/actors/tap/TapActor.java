package dev.livetap.actors.tap;

import dev.livetap.actors.Receive;
import dev.livetap.actors.nic.PeerBackend.Discarded;
import dev.livetap.actors.nic.PeerBackend.LoadFailed;
import dev.livetap.actors.nic.PeerBackend.LoadReply;
import dev.livetap.actors.nic.PeerBackend.Loaded;
import dev.livetap.actors.nic.PeerBackend.SaveFailed;
import dev.livetap.actors.nic.PeerBackend.SaveReply;
import dev.livetap.actors.nic.PeerBackend.Saved;
import dev.livetap.actors.nic.PeerBackend.Started;
import dev.livetap.actors.nic.PeerBackend.Status;
import dev.livetap.actors.nic.PeerBackend.Stopped;
import dev.livetap.actors.nic.VirtioNetFeatures;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import java.nio.ByteBuffer;
import java.util.function.Consumer;
import org.apache.pekko.actor.DeadLetterSuppression;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One TAP queue (design semantic 4). States are behaviours: {@code active} (reading through the
 * reactor), {@code paused} (VM stopped: fd kept, not reading), {@code waitingIncoming} (fd = -1,
 * waiting for the stream), {@code transferred} (fd lent to the stream, kept until the target
 * answers {@code loaded}) and {@code closed}. The fd is closed on stop unless it was handed over.
 *
 * <p><b>Supervision: resume</b> ({@link #SUPERVISION}): a handler that throws loses its message
 * (the asker's timeout fails the step) and the queue keeps its state, fd and one registration.
 * Restart would register the fd twice or drop a lent fd; stop would close a {@code transferred} fd
 * a frame still borrows (docs/architecture.md, "Supervision").
 */
public final class TapActor {

    /** Inbound protocol. */
    public sealed interface Command
            permits Pause, Resume, Save, Load, Release, Rollback, Discard, Transmit, SetEnabled, GetState, Close, QueueReadable {
    }

    /** Stop reading on a frame boundary (VM stop); answered with {@link Stopped}. */
    public record Pause(long requestId, ActorRef<Stopped> replyTo) implements Command {
    }

    /** Start (or keep) reading; answered with {@link Started}, reading or not (no fd, handed over, closed). */
    public record Resume(long requestId, ActorRef<Started> replyTo) implements Command {
    }

    /** pre_save: lend the paused queue's state (and fd) to the stream; the actor becomes {@code transferred}. */
    public record Save(long requestId, ActorRef<SaveReply> replyTo) implements Command {
    }

    /** pre_load, fd checks and post_load of an incoming {@code net-tap}; the fd becomes this actor's. */
    public record Load(long requestId, NetTapState state, ActorRef<LoadReply> replyTo) implements Command {
    }

    /**
     * The target answered {@code loaded}: the TAP is the target's now; close our fd without reading
     * again. Only a queue lent to the stream is released: one whose backend stayed (a migration
     * without backend transfer) keeps its fd, paused, until the VM ends, as QEMU keeps its TAP.
     */
    public record Release() implements Command, DeadLetterSuppression { // a stop closes the fd the same way
    }

    /**
     * Target side, the migration failed after this queue loaded its state: close the fd that arrived
     * (and its vhost binding) and wait for incoming state again. Answered with {@link Discarded}.
     */
    public record Discard(long requestId, ActorRef<Discarded> replyTo) implements Command {
    }

    /** The migration failed before {@code loaded}: take the fd back, paused; answered with {@link Stopped}. */
    public record Rollback(long requestId, ActorRef<Stopped> replyTo) implements Command {
    }

    /** A frame from the guest to the host side of the TAP. */
    public record Transmit(byte[] frame) implements Command {
    }

    /** TUNSETQUEUE attach/detach (queue enable/disable); refused during a hand-over. */
    public record SetEnabled(boolean enabled, ActorRef<EnabledReply> replyTo) implements Command {
    }

    public record GetState(long requestId, ActorRef<Status> replyTo) implements Command {
    }

    /** netdev_del or shutdown: close the fd (if owned) and stop. */
    public record Close() implements Command {
    }

    /** Private: the reactor saw the queue readable. */
    private enum QueueReadable implements Command {
        INSTANCE
    }

    /*
     * Replies are the peer-backend protocol's own ({@link dev.livetap.actors.nic.PeerBackend}): the
     * queue answers its NIC directly, without a translating actor in between (one hand-off less per
     * request on the switch-over path, profile-switchover.md).
     */

    public record EnabledReply(int queue, boolean enabled, String error) {
        public boolean ok() {
            return error == null;
        }
    }

    /** A frame read from the queue, for the NIC's guest side. */
    public record Received(int queue, byte[] frame) {
    }


    /** pre_load's refusal (QEMU's text). */
    public static final String ALREADY_INITIALIZED = "TAP is already initialized and cannot receive incoming fd";

    /** Resume (class comment). */
    public static final SupervisorStrategy SUPERVISION = SupervisorStrategy.resume();

    /** Frames read per readiness message before yielding to the mailbox. */
    static final int READ_BUDGET = 64;

    private static final int MAX_FRAME = 65536 + 12;

    private final ActorContext<Command> ctx;
    private final TapQueueConfig config;
    private final Os os;
    private final Consumer<Received> frames;
    private final VhostBackend vhost;
    /** The vhost device opened at netdev creation, or null without vhost. */
    private final VhostBackend.VhostQueue vhostQueue;
    private final ByteBuffer readBuffer = ByteBuffer.allocateDirect(MAX_FRAME);
    private final ByteBuffer writeBuffer = ByteBuffer.allocateDirect(MAX_FRAME);
    private long framesDropped;

    private TapActor(ActorContext<Command> ctx, TapQueueConfig config, Os os, Consumer<Received> frames,
            VhostBackend vhost, VhostBackend.VhostQueue vhostQueue) {
        this.ctx = ctx;
        this.config = config;
        this.os = os;
        this.frames = frames;
        this.vhost = vhost;
        this.vhostQueue = vhostQueue;
        if ((vhost == null) != (vhostQueue == null)) {
            throw new IllegalArgumentException("a vhost queue needs its backend and vice versa");
        }
    }

    /** A queue whose fd this process opened; starts paused (the VM starts it with {@link Resume}). */
    public static Behavior<Command> opened(TapQueueConfig config, Os os, ActorRef<Received> frames,
            OwnedFd fd, TapFeatures features) {
        return opened(config, os, frames::tell, fd, features);
    }

    /** As {@link #opened(TapQueueConfig, Os, ActorRef, OwnedFd, TapFeatures)}, frames going to any consumer. */
    public static Behavior<Command> opened(TapQueueConfig config, Os os, Consumer<Received> frames,
            OwnedFd fd, TapFeatures features) {
        return Behaviors.supervise(Behaviors.<Command>setup(ctx -> {
            TapActor a = new TapActor(ctx, config, os, frames, null, null);
            Held held = new Held(fd, a.register(fd), features, true, config.defaultVnetHdrLen());
            return a.paused(held);
        })).onFailure(SUPERVISION);
    }

    /** A queue of an {@code incoming-fds} netdev: fd = -1 until the stream brings one. */
    public static Behavior<Command> waitingIncoming(TapQueueConfig config, Os os, ActorRef<Received> frames) {
        return waitingIncoming(config, os, frames::tell, null, null);
    }

    /**
     * A queue of an {@code incoming-fds} netdev, with the vhost device opened at netdev creation
     * ({@code vhost} and {@code vhostQueue} both null without vhost); post_load binds it to the fd
     * that arrives. The actor tears the vhost queue down when it stops.
     */
    public static Behavior<Command> waitingIncoming(TapQueueConfig config, Os os, Consumer<Received> frames,
            VhostBackend vhost, VhostBackend.VhostQueue vhostQueue) {
        return Behaviors.supervise(Behaviors.<Command>setup(ctx -> new TapActor(ctx, config, os, frames, vhost, vhostQueue)
                .waitingIncoming())).onFailure(SUPERVISION);
    }

    /** The fd and what travels with it while this actor owns it. */
    private record Held(OwnedFd fd, Reactor.Registration registration, TapFeatures features,
            boolean enabled, int hostVnetHdrLen) {
        NetTapState state(boolean vnetHdr) {
            return new NetTapState(fd, vnetHdr, features.hasUfo(), features.hasUso(), features.hasTunnel(),
                    enabled, hostVnetHdrLen);
        }

        Held enabled(boolean e) {
            return new Held(fd, registration, features, e, hostVnetHdrLen);
        }
    }

    private int queue() {
        return config.index();
    }

    private Reactor.Registration register(OwnedFd fd) {
        ActorRef<Command> self = ctx.getSelf();
        // Level-triggered: switch interest off until the actor has drained the queue, so one
        // readiness becomes one message, not a flood.
        Reactor.Registration[] holder = new Reactor.Registration[1];
        holder[0] = os.reactor().register(fd, 0, ready -> {
            holder[0].interest(0);
            self.tell(QueueReadable.INSTANCE);
        });
        return holder[0];
    }

    // ---------------------------------------------------------------- states

    private Behavior<Command> active(Held held) {
        return Receive.of(Command.class)
                .onMessageEquals(QueueReadable.INSTANCE, () -> drain(held))
                .onMessage(Pause.class, m -> {
                    held.registration().interest(0);
                    m.replyTo().tell(new Stopped(m.requestId(), queue(), os.clock().nanos()));
                    return paused(held);
                })
                .onMessage(Resume.class, m -> {
                    m.replyTo().tell(new Started(m.requestId(), queue(), os.clock().nanos(), true));
                    return Behaviors.same();
                })
                .onMessage(Save.class, m -> {
                    m.replyTo().tell(new SaveFailed(m.requestId(), queue(), config.name() + " is still reading: the VM must be stopped before its state is saved"));
                    return Behaviors.same();
                })
                .onMessage(Load.class, m -> refuseLoad(m))
                .onMessage(Release.class, m -> unexpected(m, "active"))
                .onMessage(Discard.class, m -> {
                    m.replyTo().tell(new Discarded(m.requestId(), queue(), false)); // a running queue is never discarded
                    return Behaviors.same();
                })
                .onMessage(Rollback.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Transmit.class, m -> transmit(held, m))
                .onMessage(SetEnabled.class, m -> setEnabled(held, m, true))
                .onMessage(GetState.class, m -> reportState(m, "active", true, held))
                .onMessage(Close.class, m -> closeAndStop(held))
                .onSignal(PostStop.class, s -> releaseOnStop(held))
                .build();
    }

    private Behavior<Command> paused(Held held) {
        return Receive.of(Command.class)
                .onMessageEquals(QueueReadable.INSTANCE, Behaviors::same) // raced with Pause: stay on the frame boundary
                .onMessage(Pause.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Resume.class, m -> {
                    held.registration().interest(Reactor.READ);
                    m.replyTo().tell(new Started(m.requestId(), queue(), os.clock().nanos(), true));
                    return active(held);
                })
                .onMessage(Save.class, m -> {
                    held.registration().cancel();
                    m.replyTo().tell(new Saved(m.requestId(), queue(), NetTapSchema.toStruct(held.state(config.vnetHdr()))));
                    return transferred(held);
                })
                .onMessage(Load.class, m -> refuseLoad(m))
                .onMessage(Release.class, m -> unexpected(m, "paused")) // nothing was lent: the fd stays until the VM ends
                .onMessage(Discard.class, m -> {
                    closeHeld(held);
                    m.replyTo().tell(new Discarded(m.requestId(), queue(), true));
                    ctx.getLog().info("{}: discarded the fd received from the stream", config.name());
                    return waitingIncoming();
                })
                .onMessage(Rollback.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Transmit.class, m -> transmit(held, m))
                .onMessage(SetEnabled.class, m -> setEnabled(held, m, false))
                .onMessage(GetState.class, m -> reportState(m, "paused", false, held))
                .onMessage(Close.class, m -> closeAndStop(held))
                .onSignal(PostStop.class, s -> releaseOnStop(held))
                .build();
    }

    /** The fd is lent to the stream: not read, not closed, until Release (loaded) or Rollback. */
    private Behavior<Command> transferred(Held held) {
        return Receive.of(Command.class)
                .onMessageEquals(QueueReadable.INSTANCE, Behaviors::same)
                .onMessage(Release.class, m -> {
                    closeHeld(held);
                    ctx.getLog().debug("{}: released to the target", config.name());
                    return closed();
                })
                .onMessage(Discard.class, m -> {
                    m.replyTo().tell(new Discarded(m.requestId(), queue(), false)); // the source side rolls back instead
                    return Behaviors.same();
                })
                .onMessage(Rollback.class, m -> {
                    Held back = new Held(held.fd(), register(held.fd()), held.features(), held.enabled(), held.hostVnetHdrLen());
                    m.replyTo().tell(new Stopped(m.requestId(), queue(), os.clock().nanos()));
                    ctx.getLog().info("{}: rolled back, paused with its fd", config.name());
                    return paused(back);
                })
                .onMessage(Pause.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Resume.class, m -> {
                    // Reading now could race the target: at most one process reads a queue.
                    ctx.getLog().warn("{}: resume refused while the fd is handed over (roll back first)", config.name());
                    notReading(m, config.name() + " is handed over to the migration");
                    return Behaviors.same();
                })
                .onMessage(Save.class, m -> {
                    m.replyTo().tell(new SaveFailed(m.requestId(), queue(), config.name() + " is already handed over"));
                    return Behaviors.same();
                })
                .onMessage(Load.class, m -> refuseLoad(m))
                .onMessage(Transmit.class, m -> drop())
                .onMessage(SetEnabled.class, m -> {
                    m.replyTo().tell(new EnabledReply(queue(), held.enabled(), "queue state cannot change during a hand-over"));
                    return Behaviors.same();
                })
                .onMessage(GetState.class, m -> reportState(m, "transferred", false, held))
                .onMessage(Close.class, m -> closeAndStop(held))
                .onSignal(PostStop.class, s -> releaseOnStop(held))
                .build();
    }

    private Behavior<Command> waitingIncoming() {
        return Receive.of(Command.class)
                .onMessageEquals(QueueReadable.INSTANCE, Behaviors::same)
                .onMessage(Load.class, this::load)
                .onMessage(Pause.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Resume.class, m -> {
                    ctx.getLog().debug("{}: resume before any fd arrived; nothing to read", config.name());
                    notReading(m, config.name() + " has no fd yet (waiting for incoming state)");
                    return Behaviors.same();
                })
                .onMessage(Save.class, m -> {
                    m.replyTo().tell(new SaveFailed(m.requestId(), queue(), config.name() + " has no fd (waiting for an incoming migration)"));
                    return Behaviors.same();
                })
                .onMessage(Release.class, m -> unexpected(m, "waitingIncoming")) // nothing was saved, so no migration ends with it
                .onMessage(Rollback.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Discard.class, m -> {
                    m.replyTo().tell(new Discarded(m.requestId(), queue(), false));
                    return Behaviors.same();
                })
                .onMessage(Transmit.class, m -> drop())
                .onMessage(SetEnabled.class, m -> {
                    m.replyTo().tell(new EnabledReply(queue(), false, "queue has no fd yet"));
                    return Behaviors.same();
                })
                .onMessage(GetState.class, m -> {
                    m.replyTo().tell(new Status(m.requestId(), queue(), "waiting-incoming", false, false));
                    return Behaviors.same();
                })
                .onMessage(Close.class, m -> {
                    tearDownVhost();
                    return Behaviors.stopped();
                })
                .onSignal(PostStop.class, s -> tearDownVhost())
                .build();
    }

    private Behavior<Command> closed() {
        return Receive.of(Command.class)
                .onMessage(GetState.class, m -> {
                    m.replyTo().tell(new Status(m.requestId(), queue(), "closed", false, false));
                    return Behaviors.same();
                })
                .onMessage(Load.class, m -> {
                    // A closed queue takes no new fd: only a fresh netdev waits for incoming state.
                    if (m.state().fd() != null) {
                        m.state().fd().close();
                    }
                    m.replyTo().tell(new LoadFailed(m.requestId(), queue(), config.name() + " is closed"));
                    return Behaviors.same();
                })
                .onMessage(Pause.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Discard.class, m -> {
                    m.replyTo().tell(new Discarded(m.requestId(), queue(), false));
                    return Behaviors.same();
                })
                .onMessage(Rollback.class, m -> answerStopped(m.requestId(), m.replyTo()))
                .onMessage(Resume.class, m -> {
                    notReading(m, config.name() + " is closed");
                    return Behaviors.same();
                })
                .onMessage(Save.class, m -> {
                    m.replyTo().tell(new SaveFailed(m.requestId(), queue(), config.name() + " is closed"));
                    return Behaviors.same();
                })
                .onMessage(SetEnabled.class, m -> {
                    m.replyTo().tell(new EnabledReply(queue(), false, config.name() + " is closed"));
                    return Behaviors.same();
                })
                .onMessage(Transmit.class, m -> drop())
                .onMessage(Release.class, m -> Behaviors.same()) // a second Release (two migrations' ends) changes nothing
                .onMessageEquals(QueueReadable.INSTANCE, Behaviors::same) // a wake-up queued before the close
                .onMessage(Close.class, m -> Behaviors.stopped())
                .build();
    }

    // ---------------------------------------------------------------- handlers

    private Behavior<Command> drain(Held held) {
        int n = 0;
        try {
            for (; n < READ_BUDGET; n++) {
                readBuffer.clear();
                int len = os.tun().readFrame(held.fd(), readBuffer);
                if (len == 0) {
                    break;
                }
                byte[] frame = new byte[len];
                readBuffer.flip();
                readBuffer.get(frame);
                frames.accept(new Received(queue(), frame));
            }
        } catch (NativeException e) {
            ctx.getLog().error("{}: read failed, the queue stops reading: {}", config.name(), e.getMessage());
            return paused(held);
        }
        if (n == READ_BUDGET) {
            ctx.getSelf().tell(QueueReadable.INSTANCE); // more may be waiting: yield to the mailbox first
        } else {
            held.registration().interest(Reactor.READ);
        }
        return Behaviors.same();
    }

    private Behavior<Command> transmit(Held held, Transmit m) {
        if (m.frame().length > MAX_FRAME) {
            return drop();
        }
        writeBuffer.clear();
        writeBuffer.put(m.frame()).flip();
        try {
            if (!os.tun().writeFrame(held.fd(), writeBuffer)) {
                framesDropped++;
            }
        } catch (NativeException e) {
            framesDropped++;
            ctx.getLog().warn("{}: write failed: {}", config.name(), e.getMessage());
        }
        return Behaviors.same();
    }

    private Behavior<Command> drop() {
        framesDropped++;
        return Behaviors.same();
    }

    private Behavior<Command> setEnabled(Held held, SetEnabled m, boolean reading) {
        try {
            os.tun().setQueueAttached(held.fd(), m.enabled());
        } catch (NativeException e) {
            m.replyTo().tell(new EnabledReply(queue(), held.enabled(), e.getMessage()));
            return Behaviors.same();
        }
        m.replyTo().tell(new EnabledReply(queue(), m.enabled(), null));
        Held next = held.enabled(m.enabled());
        return reading ? active(next) : paused(next);
    }

    /** pre_load on a queue that already has an fd: QEMU's refusal; the incoming fd is closed. */
    private Behavior<Command> refuseLoad(Load m) {
        if (m.state().fd() != null) {
            m.state().fd().close();
        }
        m.replyTo().tell(new LoadFailed(m.requestId(), queue(), ALREADY_INITIALIZED));
        return Behaviors.same();
    }

    private Behavior<Command> load(Load m) {
        NetTapState s = m.state();
        String problem = check(s);
        if (problem != null) {
            if (s.fd() != null) {
                s.fd().close();
            }
            ctx.getLog().warn("{}: incoming state refused: {}", config.name(), problem);
            m.replyTo().tell(new LoadFailed(m.requestId(), queue(), problem));
            return Behaviors.same();
        }
        // post_load: vhost first (QEMU's order), then the queue is armed; it reads only once the VM runs (Resume).
        if (vhostQueue != null) {
            try {
                vhost.setUp(vhostQueue, s.fd());
            } catch (VhostException e) {
                s.fd().close();
                String reason = VhostBackend.postLoadFailure(e.getMessage());
                ctx.getLog().warn("{}: {}", config.name(), reason);
                m.replyTo().tell(new LoadFailed(m.requestId(), queue(), reason));
                return Behaviors.same();
            }
        }
        Held held = new Held(s.fd(), register(s.fd()), new TapFeatures(s.hasUfo(), s.hasUso(), s.hasTunnel()),
                s.enabled(), s.hostVnetHdrLen());
        m.replyTo().tell(new Loaded(m.requestId(), queue(), VirtioNetFeatures.backend(s.usingVnetHdr(), s.hasUfo(), s.hasUso(),
                s.hasTunnel())));
        return paused(held);
    }

    /** The checks a received fd must pass before use; null when it passes. */
    private String check(NetTapState s) {
        if (s.fd() == null) {
            return config.name() + ": the incoming state carries no fd (fd = -1)";
        }
        String what = "fd for " + config.name();
        try {
            FdKind kind = os.fds().kind(s.fd());
            if (kind != FdKind.TUN) {
                return what + " is not a TAP queue (fstat: " + kind + ", expected character device 10:200)";
            }
            TunInfo info = os.tun().info(s.fd());
            if (config.ifname() != null && !info.name().equals(config.ifname())) {
                return what + " belongs to interface " + info.name() + ", expected " + config.ifname();
            }
            int flags = info.flags() & ~TunFlags.IFF_DETACH_QUEUE & ~TunFlags.IFF_PERSIST;
            if (flags != config.flags()) {
                return String.format("%s has flags 0x%x, expected 0x%x", what, flags, config.flags());
            }
            if (info.detached() == s.enabled()) {
                return what + (s.enabled()
                        ? " is detached (IFF_DETACH_QUEUE) but the queue is enabled"
                        : " is attached but the queue is disabled");
            }
            if (s.usingVnetHdr() != config.vnetHdr()) {
                return what + ": using_vnet_hdr=" + s.usingVnetHdr() + " but this netdev has vnet_hdr=" + config.vnetHdr();
            }
            if (s.usingVnetHdr() && s.hostVnetHdrLen() != 0 && os.tun().vnetHdrSize(s.fd()) != s.hostVnetHdrLen()) {
                return what + ": host_vnet_hdr_len=" + s.hostVnetHdrLen() + " but the device's TUNGETVNETHDRSZ is "
                        + os.tun().vnetHdrSize(s.fd());
            }
            if (!os.fds().isNonBlocking(s.fd())) {
                return what + " is in blocking mode (O_NONBLOCK is kept as the source set it)";
            }
        } catch (NativeException e) {
            return what + ": " + e.getMessage();
        }
        return null;
    }

    /** Already not reading (or nothing to take back): answered as stopped, the state unchanged. */
    private Behavior<Command> answerStopped(long requestId, ActorRef<Stopped> replyTo) {
        replyTo.tell(new Stopped(requestId, queue(), os.clock().nanos()));
        return Behaviors.same();
    }

    /** Resume refused: answered as not reading, the reason logged. */
    private void notReading(Resume m, String reason) {
        ctx.getLog().debug("{}: not reading: {}", config.name(), reason);
        m.replyTo().tell(new Started(m.requestId(), queue(), 0, false));
    }

    /** A message no state of this protocol expects here: Pekko publishes it as unhandled (a dead-letter notice), not swallowed. */
    private Behavior<Command> unexpected(Command m, String state) {
        ctx.getLog().warn("{}: {} unexpected in state {}", config.name(), m.getClass().getSimpleName(), state);
        return Behaviors.unhandled();
    }

    private Behavior<Command> reportState(GetState m, String state, boolean reading, Held held) {
        m.replyTo().tell(new Status(m.requestId(), queue(), state, reading, true));
        return Behaviors.same();
    }

    private Behavior<Command> closeAndStop(Held held) {
        closeHeld(held);
        return Behaviors.stopped();
    }

    /** Unbinds vhost (which uses the fd), stops watching and closes the fd; idempotent. */
    private void closeHeld(Held held) {
        held.registration().cancel();
        tearDownVhost();
        if (held.fd().isOpen()) {
            held.fd().close();
        }
    }

    private Behavior<Command> tearDownVhost() {
        if (vhostQueue != null) {
            vhost.tearDown(vhostQueue);
        }
        return Behaviors.same();
    }

    private Behavior<Command> releaseOnStop(Held held) {
        closeHeld(held);
        return Behaviors.same();
    }

    /** Frames dropped because the queue could not take them (for tests and counters). */
    long framesDropped() {
        return framesDropped;
    }
}
