package dev.livetap.actors.tap;

import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.nic.VirtioNetFeatures;
import dev.livetap.actors.options.PeerState;
import dev.livetap.nativeio.OwnedFd;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The adapter through which a {@link TapActor} is a virtio-net peer backend: it speaks
 * {@link PeerBackend}, owns the TapActor as its child (so the queue stops with it) and translates
 * each request and reply, converting {@link NetTapState} to and from the {@code net-tap} struct
 * ({@link NetTapSchema}). Every request to the queue has a timeout; the TapActor's stop stops the
 * adapter (the NIC sees its peer die).
 */
public final class TapPeerBackend {
    private TapPeerBackend() {
    }

    /** Replies from the child, adapted. Private: never part of the public protocol. */
    private record Done(Runnable reply) {
    }

    /**
     * @param tap      the queue's behaviour ({@link TapActor#opened} or {@link TapActor#waitingIncoming})
     * @param state    whether it waits for incoming state
     * @param vnetHdr  whether the netdev has {@code vnet_hdr}
     * @param timeout  for each request to the queue
     * @param dispatcher the dispatcher the child runs on
     */
    public static Behavior<PeerBackend.Command> create(Behavior<TapActor.Command> tap, int queue, PeerState state,
            boolean vnetHdr, Duration timeout, DispatcherSelector dispatcher) {
        return Behaviors.<Object>setup(ctx -> {
            ActorRef<TapActor.Command> child = ctx.spawn(tap, "tap-" + queue, dispatcher);
            ctx.watch(child);
            return new Adapter(ctx, child, queue, state, vnetHdr, timeout).behavior();
        }).narrow();
    }

    private static final class Adapter {
        private final ActorContext<Object> ctx;
        private final ActorRef<TapActor.Command> tap;
        private final int queue;
        private final PeerState initialState;
        private final boolean vnetHdr;
        private final Duration timeout;

        Adapter(ActorContext<Object> ctx, ActorRef<TapActor.Command> tap, int queue, PeerState initialState,
                boolean vnetHdr, Duration timeout) {
            this.ctx = ctx;
            this.tap = tap;
            this.queue = queue;
            this.initialState = initialState;
            this.vnetHdr = vnetHdr;
            this.timeout = timeout;
            // one TapActor answers every request, each from its handler: matching on the reply's type is exact
            this.replies = new dev.livetap.actors.Replies<>(ctx, m -> m, m -> 0, TapActor.Stopped.class,
                    TapActor.ResumeReply.class, TapActor.SaveReply.class, TapActor.LoadReply.class, TapActor.Discarded.class,
                    TapActor.QueueState.class);
        }

        private final dev.livetap.actors.Replies<Object> replies;

        Behavior<Object> behavior() {
            return Behaviors.receive(Object.class)
                    .onMessage(Done.class, m -> {
                        m.reply().run();
                        return Behaviors.same();
                    })
                    .onMessage(dev.livetap.actors.Replies.Reply.class, m -> delivered(replies.deliver(m)))
                    .onMessage(dev.livetap.actors.Replies.Expired.class, m -> delivered(replies.deliver(m)))
                    .onMessage(PeerBackend.Describe.class, m -> {
                        long features = initialState == PeerState.WAITING_INCOMING
                                ? VirtioNetFeatures.FULL : VirtioNetFeatures.backend(vnetHdr, false, false, false);
                        m.replyTo().tell(new PeerBackend.Description(queue, NetTapSchema.SCHEMA, initialState, features));
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Stop.class, m -> {
                        ask(TapActor.Stopped.class, TapActor.Pause::new,
                                r -> m.replyTo().tell(new PeerBackend.Stopped(queue, r.atNanos())), "stop");
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Start.class, m -> {
                        // one message to the queue, so that a Stop sent after this Start is always applied after it
                        ask(TapActor.ResumeReply.class, TapActor.Resume::new, r -> m.replyTo().tell(
                                r instanceof TapActor.Reading reading
                                        ? new PeerBackend.Started(queue, reading.atNanos(), true)
                                        : new PeerBackend.Started(queue, 0, false)), "start");
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Save.class, m -> {
                        ask(TapActor.SaveReply.class, TapActor.Save::new, r -> {
                            if (r instanceof TapActor.Saved saved) {
                                m.replyTo().tell(new PeerBackend.Saved(queue, NetTapSchema.toStruct(saved.state())));
                            } else {
                                m.replyTo().tell(new PeerBackend.SaveFailed(queue, ((TapActor.SaveRefused) r).reason()));
                            }
                        }, "save");
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Load.class, this::load)
                    .onMessage(PeerBackend.Release.class, m -> {
                        tap.tell(new TapActor.Release());
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Rollback.class, m -> {
                        ask(TapActor.Stopped.class, TapActor.Rollback::new,
                                r -> m.replyTo().tell(new PeerBackend.Stopped(queue, r.atNanos())), "rollback");
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Discard.class, m -> {
                        ask(TapActor.Discarded.class, TapActor.Discard::new,
                                r -> m.replyTo().tell(new PeerBackend.Discarded(queue, r.closedFd())), "discard");
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Transmit.class, m -> {
                        tap.tell(new TapActor.Transmit(m.frame()));
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.GetStatus.class, m -> {
                        ask(TapActor.QueueState.class, TapActor.GetState::new,
                                s -> m.replyTo().tell(new PeerBackend.Status(queue, s.state(), s.reading(), s.ownsFd())),
                                "status");
                        return Behaviors.same();
                    })
                    .onMessage(PeerBackend.Close.class, m -> {
                        tap.tell(new TapActor.Close());
                        return Behaviors.same();
                    })
                    .onSignal(org.apache.pekko.actor.typed.Terminated.class, t -> Behaviors.stopped())
                    .build();
        }

        private Behavior<Object> load(PeerBackend.Load m) {
            NetTapState state;
            try {
                state = NetTapSchema.fromStruct(m.state());
            } catch (IllegalArgumentException e) {
                OwnedFd.closeAll(m.state().fds()); // refused: the fds that arrived are closed, never leaked
                m.replyTo().tell(new PeerBackend.LoadFailed(queue, e.getMessage()));
                return Behaviors.same();
            }
            ask(TapActor.LoadReply.class, r -> new TapActor.Load(state, r), r -> {
                if (r instanceof TapActor.Loaded) {
                    m.replyTo().tell(new PeerBackend.Loaded(queue, VirtioNetFeatures.backend(state.usingVnetHdr(),
                            state.hasUfo(), state.hasUso(), state.hasTunnel())));
                } else {
                    m.replyTo().tell(new PeerBackend.LoadFailed(queue, ((TapActor.LoadFailed) r).reason()));
                }
            }, "load");
            return Behaviors.same();
        }

        private Behavior<Object> delivered(Object done) {
            if (done != null) {
                ((Done) done).reply().run();
            }
            return Behaviors.same();
        }

        /** Asks the queue; a timeout fails the adapter (and so the peer), which the NIC sees. */
        private <R> void ask(Class<R> cls, java.util.function.Function<ActorRef<R>, TapActor.Command> request,
                java.util.function.Consumer<R> onReply, String what) {
            replies.ask(cls, 0, tap, timeout, request::apply, (r, ex) -> new Done(() -> {
                if (ex != null) {
                    throw new IllegalStateException("TAP queue " + queue + " did not answer " + what + " within "
                            + timeout.toMillis() + " ms", ex);
                }
                onReply.accept(r);
            }));
        }
    }
}
