package dev.livetap.engine.internal;

import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.engine.api.LivetapException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Parent of one {@link VmActor}: its {@link Shutdown} ends the VM ({@link VmActor.Shutdown}: the
 * downscripts that are its duty run, then it stops and, through supervision, its NICs and TAP actors,
 * which close their fds on PostStop). It is also the VM's one event subscriber and
 * fans each event out to the current listeners, so that a listener added or removed never leaves
 * the VM sending to a stopped actor (no dead letters).
 */
public final class VmSupervisorActor {
    private static final Logger LOG = LoggerFactory.getLogger(VmSupervisorActor.class);

    sealed interface Command permits Shutdown, AddListener, RemoveListener, Deliver, Synced {
    }

    /** Stops the VM; the {@code stopped} future given to {@link #create} completes once it and all its children have stopped. */
    record Shutdown() implements Command {
    }

    /** Adds a listener; {@code added} completes with its id. */
    record AddListener(VmListener listener, CompletableFuture<Long> added) implements Command {
    }

    /** Removes a listener (its {@code onClosed} runs); an unknown id is ignored. */
    record RemoveListener(long id) implements Command {
    }

    /** Runs {@code onDone} after the events already in this mailbox were handed to the listeners (QEMU's events-before-reply order). */
    record Synced(Runnable onDone) implements Command {
    }

    /** One event of the VM (adapted). */
    private record Deliver(VmEvent event) implements Command {
    }

    /** The listeners by id, in the order they were added. */
    private record Listeners(Map<Long, VmListener> byId, long nextId) {
        Listeners with(VmListener l) {
            Map<Long, VmListener> m = new LinkedHashMap<>(byId);
            m.put(nextId, l);
            return new Listeners(m, nextId + 1);
        }

        Listeners without(long id) {
            Map<Long, VmListener> m = new LinkedHashMap<>(byId);
            m.remove(id);
            return new Listeners(m, nextId);
        }
    }

    private VmSupervisorActor() {
    }

    /**
     * @param stopped completes when this actor stops, however it stops (a {@link Shutdown}, its VM actor ending on its
     *                own, the ActorSystem terminating): a {@link Shutdown} sent after that reaches no one, so whoever
     *                waits for the VM's end waits on this
     */
    static Behavior<Command> create(VmActor.VmConfig config, CompletableFuture<ActorRef<VmActor.Command>> vmRef,
            CompletableFuture<Void> stopped) {
        Behavior<Command> supervisor = Behaviors.setup(ctx -> {
            ActorRef<VmActor.Command> vm = ctx.spawn(config.tracer().trace("vm", VmActor.create(config)), "vm", VmActor.DISPATCHER);
            ctx.watch(vm);
            vm.tell(new VmActor.Subscribe(ctx.messageAdapter(VmEvent.class, Deliver::new)));
            vmRef.complete(vm);
            return running(ctx, vm, new Listeners(Map.of(), 1));
        });
        // around every behaviour: its PostStop comes whichever behaviour was current
        return Behaviors.intercept(() -> new StopSignal(stopped), supervisor);
    }

    /** Completes {@code stopped} on the PostStop signal and passes every message and signal on. */
    private static final class StopSignal extends org.apache.pekko.actor.typed.BehaviorInterceptor<Command, Command> {
        private final CompletableFuture<Void> stopped;

        StopSignal(CompletableFuture<Void> stopped) {
            super(Command.class);
            this.stopped = stopped;
        }

        @Override
        public Behavior<Command> aroundReceive(org.apache.pekko.actor.typed.TypedActorContext<Command> ctx, Command msg,
                ReceiveTarget<Command> target) {
            return target.apply(ctx, msg);
        }

        @Override
        public Behavior<Command> aroundSignal(org.apache.pekko.actor.typed.TypedActorContext<Command> ctx,
                org.apache.pekko.actor.typed.Signal signal, SignalTarget<Command> target) {
            if (signal instanceof org.apache.pekko.actor.typed.PostStop) {
                stopped.complete(null);
            }
            return target.apply(ctx, signal);
        }
    }

    private static Behavior<Command> running(ActorContext<Command> ctx, ActorRef<VmActor.Command> vm, Listeners listeners) {
        return Behaviors.receive(Command.class)
                .onMessage(Deliver.class, m -> {
                    deliver(listeners, m.event());
                    return Behaviors.same();
                })
                .onMessage(Synced.class, m -> {
                    m.onDone().run();
                    return Behaviors.same();
                })
                .onMessage(AddListener.class, m -> {
                    Listeners next = listeners.with(m.listener());
                    m.added().complete(listeners.nextId());
                    return running(ctx, vm, next);
                })
                .onMessage(RemoveListener.class, m -> {
                    VmListener l = listeners.byId().get(m.id());
                    if (l == null) {
                        return Behaviors.same();
                    }
                    closed(l);
                    return running(ctx, vm, listeners.without(m.id()));
                })
                .onMessage(Shutdown.class, m -> {
                    vm.tell(new VmActor.Shutdown()); // its downscripts run before its queues close, then it stops
                    return stopping(listeners);
                })
                .onSignal(Terminated.class, t -> {
                    if (t.getRef().equals(vm)) {
                        ctx.getLog().error("VM actor {} stopped unexpectedly", vm.path());
                        listeners.byId().values().forEach(VmSupervisorActor::closed);
                        return Behaviors.stopped();
                    }
                    return Behaviors.same();
                })
                .build();
    }

    private static Behavior<Command> stopping(Listeners listeners) {
        return Behaviors.receive(Command.class)
                .onMessage(Deliver.class, m -> {
                    deliver(listeners, m.event());
                    return Behaviors.same();
                })
                .onMessage(Synced.class, m -> {
                    m.onDone().run();
                    return Behaviors.same();
                })
                .onMessage(Shutdown.class, m -> Behaviors.same()) // already stopping
                .onMessage(AddListener.class, m -> {
                    m.added().completeExceptionally(new LivetapException(LivetapException.GENERIC, "the VM is closing"));
                    return Behaviors.same();
                })
                .onMessage(RemoveListener.class, m -> {
                    VmListener l = listeners.byId().get(m.id());
                    if (l == null) {
                        return Behaviors.same();
                    }
                    closed(l);
                    return stopping(listeners.without(m.id()));
                })
                .onSignal(Terminated.class, t -> {
                    listeners.byId().values().forEach(VmSupervisorActor::closed);
                    return Behaviors.stopped();
                })
                .build();
    }

    private static void deliver(Listeners listeners, VmEvent e) {
        for (VmListener l : listeners.byId().values()) {
            try {
                l.onEvent(e);
            } catch (RuntimeException ex) {
                LOG.warn("a VM event listener failed on {}", e, ex);
            }
        }
    }

    private static void closed(VmListener l) {
        try {
            l.onClosed();
        } catch (RuntimeException ex) {
            LOG.warn("a VM event listener failed on close", ex);
        }
    }
}
