package dev.livetap.actors.tap;

import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.options.PeerState;
import dev.livetap.actors.nic.VirtioNetFeatures;
import dev.livetap.nativeio.OwnedFd;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * How a {@link TapActor} is a virtio-net peer backend: an interceptor in front of the queue's own
 * behaviour, in the same actor, that turns each {@link PeerBackend} request into the TapActor's
 * (converting the incoming {@code net-tap} struct with {@link NetTapSchema}) and answers
 * {@link PeerBackend.Describe} itself. The TapActor answers in the peer-backend protocol, so a reply
 * goes straight to the NIC.
 *
 * <p>It used to be a separate adapter actor owning the TapActor as its child; every request and
 * reply then crossed one more mailbox, which the switch-over profile showed on the downtime's
 * critical path (docs/profile-switchover.md). Messages the queue sends itself (reactor wake-ups)
 * are not {@code PeerBackend} commands and pass the interceptor untouched.
 */
public final class TapPeerBackend {
    private TapPeerBackend() {
    }

    /**
     * @param tap     the queue's behaviour ({@link TapActor#opened} or {@link TapActor#waitingIncoming})
     * @param state   whether it waits for incoming state
     * @param vnetHdr whether the netdev has {@code vnet_hdr}
     */
    public static Behavior<PeerBackend.Command> create(Behavior<TapActor.Command> tap, int queue, PeerState state,
            boolean vnetHdr) {
        return Behaviors.intercept(() -> new Translation(queue, state, vnetHdr), tap);
    }

    private static final class Translation extends BehaviorInterceptor<PeerBackend.Command, TapActor.Command> {
        private final int queue;
        private final PeerState initialState;
        private final boolean vnetHdr;

        Translation(int queue, PeerState initialState, boolean vnetHdr) {
            super(PeerBackend.Command.class);
            this.queue = queue;
            this.initialState = initialState;
            this.vnetHdr = vnetHdr;
        }

        @Override
        public Behavior<TapActor.Command> aroundReceive(TypedActorContext<PeerBackend.Command> ctx,
                PeerBackend.Command msg, ReceiveTarget<TapActor.Command> target) {
            TapActor.Command request;
            if (msg instanceof PeerBackend.Describe m) {
                long features = initialState == PeerState.WAITING_INCOMING
                        ? VirtioNetFeatures.FULL : VirtioNetFeatures.backend(vnetHdr, false, false, false);
                m.replyTo().tell(new PeerBackend.Description(m.requestId(), queue, NetTapSchema.SCHEMA, initialState, features));
                return Behaviors.same();
            } else if (msg instanceof PeerBackend.Stop m) {
                request = new TapActor.Pause(m.requestId(), m.replyTo());
            } else if (msg instanceof PeerBackend.Start m) {
                // one message to the queue, so that a Stop sent after this Start is always applied after it
                request = new TapActor.Resume(m.requestId(), m.replyTo());
            } else if (msg instanceof PeerBackend.Save m) {
                request = new TapActor.Save(m.requestId(), m.replyTo());
            } else if (msg instanceof PeerBackend.Load m) {
                NetTapState state;
                try {
                    state = NetTapSchema.fromStruct(m.state());
                } catch (IllegalArgumentException e) {
                    OwnedFd.closeAll(m.state().fds()); // refused: the fds that arrived are closed, never leaked
                    m.replyTo().tell(new PeerBackend.LoadFailed(m.requestId(), queue, e.getMessage()));
                    return Behaviors.same();
                }
                request = new TapActor.Load(m.requestId(), state, m.replyTo());
            } else if (msg instanceof PeerBackend.Release) {
                request = new TapActor.Release();
            } else if (msg instanceof PeerBackend.Rollback m) {
                request = new TapActor.Rollback(m.requestId(), m.replyTo());
            } else if (msg instanceof PeerBackend.Discard m) {
                request = new TapActor.Discard(m.requestId(), m.replyTo());
            } else if (msg instanceof PeerBackend.Transmit m) {
                request = new TapActor.Transmit(m.frame());
            } else if (msg instanceof PeerBackend.GetStatus m) {
                request = new TapActor.GetState(m.requestId(), m.replyTo());
            } else if (msg instanceof PeerBackend.Close) {
                request = new TapActor.Close();
            } else {
                throw new IllegalArgumentException("unknown peer-backend request " + msg);
            }
            // the queue's lines for a migration's request carry its id (same actor: the queue handles it inside this call)
            return MigrationMdc.with(MigrationMdc.idOf(msg), () -> target.apply(ctx, request));
        }
    }
}
