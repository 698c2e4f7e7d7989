package dev.livetap.engine.api;

import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Parent of one {@link VmActor}: stopping it stops the VM and, through supervision, its NICs and
 * TAP actors (which close their fds on PostStop); it also owns the event listeners.
 */
final class VmSupervisorActor {
    sealed interface Command permits Shutdown, AddListener, RemoveListener {
    }

    /** Stops the VM; {@code done} completes once the VM actor and all its children have stopped. */
    record Shutdown(CompletableFuture<Void> done) implements Command {
    }

    record AddListener(VmListener listener, CompletableFuture<ActorRef<VmEvent>> added) implements Command {
    }

    record RemoveListener(ActorRef<VmEvent> ref) implements Command {
    }

    /** A listener's own message besides the VM's events: runs {@code onDone} after the events before it. */
    record Synced(Runnable onDone) {
    }

    /** Stops a listener after what is already in its mailbox (a pending sync still completes). */
    private enum Unsubscribed { INSTANCE }

    private VmSupervisorActor() {
    }

    static Behavior<Command> create(VmActor.VmConfig config, CompletableFuture<ActorRef<VmActor.Command>> vmRef) {
        return Behaviors.setup(ctx -> {
            ActorRef<VmActor.Command> vm = ctx.spawn(VmActor.create(config), "vm", VmActor.DISPATCHER);
            ctx.watch(vm);
            vmRef.complete(vm);
            return running(ctx, vm, 0, List.of());
        });
    }

    private static Behavior<Command> running(ActorContext<Command> ctx, ActorRef<VmActor.Command> vm, int spawned,
            List<ActorRef<Object>> listeners) {
        return Behaviors.receive(Command.class)
                .onMessage(AddListener.class, m -> {
                    ActorRef<Object> l = ctx.spawn(listener(m.listener()), "listener-" + (spawned + 1), VmActor.DISPATCHER);
                    vm.tell(new VmActor.Subscribe(l.narrow()));
                    m.added().complete(l.narrow());
                    List<ActorRef<Object>> next = new ArrayList<>(listeners);
                    next.add(l);
                    return running(ctx, vm, spawned + 1, next);
                })
                .onMessage(RemoveListener.class, m -> {
                    List<ActorRef<Object>> next = new ArrayList<>(listeners);
                    next.removeIf(l -> {
                        boolean match = l.equals(m.ref());
                        if (match) {
                            l.tell(Unsubscribed.INSTANCE);
                        }
                        return match;
                    });
                    return running(ctx, vm, spawned, next);
                })
                .onMessage(Shutdown.class, m -> {
                    ctx.stop(vm);
                    return stopping(m.done());
                })
                .onSignal(Terminated.class, t -> {
                    if (t.getRef().equals(vm)) {
                        ctx.getLog().error("VM actor {} stopped unexpectedly", vm.path());
                        return Behaviors.stopped();
                    }
                    return Behaviors.same();
                })
                .build();
    }

    private static Behavior<Command> stopping(CompletableFuture<Void> done) {
        return Behaviors.receive(Command.class)
                .onMessage(Shutdown.class, m -> {
                    done.whenComplete((v, e) -> m.done().complete(null));
                    return Behaviors.same();
                })
                .onMessage(AddListener.class, m -> {
                    m.added().completeExceptionally(new LivetapException(LivetapException.GENERIC, "the VM is closing"));
                    return Behaviors.same();
                })
                .onAnyMessage(m -> Behaviors.same())
                .onSignal(Terminated.class, t -> {
                    done.complete(null);
                    return Behaviors.stopped();
                })
                .build();
    }

    private static Behavior<Object> listener(VmListener l) {
        return Behaviors.receive(Object.class)
                .onMessage(VmEvent.class, e -> {
                    try {
                        l.onEvent(e);
                    } catch (RuntimeException ex) {
                        org.slf4j.LoggerFactory.getLogger(VmSupervisorActor.class).warn("a VM event listener failed on {}", e, ex);
                    }
                    return Behaviors.same();
                })
                .onMessage(Synced.class, m -> {
                    m.onDone().run();
                    return Behaviors.same();
                })
                .onMessage(Unsubscribed.class, m -> Behaviors.stopped())
                .build();
    }
}
