package dev.livetap.simulation.trace;

import dev.livetap.actors.Tracer;
import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.migration.MigrationCoordinator;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.tap.TapActor;
import java.util.function.BiPredicate;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The actors module's {@link Tracer} hook for one VM endpoint: every message delivered to a traced
 * actor becomes a trace line "side/actor <- Type canonical-text" (typed Pekko messages carry no
 * sender; the reply-to references inside them say who asked). It also remembers each traced
 * actor's reference by name, and lets fault hooks see deliveries ({@code onDeliver}).
 *
 * <p>It is also where the simulation makes an actor throw ({@link #crashOnce}): an interceptor in
 * front of the actor throws {@link SimulatedCrash} on the chosen delivery. An interceptor outside
 * the actor's own {@code Behaviors.supervise} is not covered by it, so the traced behaviour is
 * wrapped once more in a supervisor with the actor kind's published strategy (e.g.
 * {@link TapActor#SUPERVISION}): the crash then ends exactly as a throw inside the actor would. The
 * VM has no strategy of its own (Pekko's default: a throw stops it), so its crash is not wrapped:
 * it stops, and {@link #onStoppingCrash} tells the run first.
 */
public final class SimTracer implements Tracer {
    private final String side;
    private final TraceLog log;
    private final Map<String, ActorRef<?>> refs = new TreeMap<>();
    private BiConsumer<String, Object> onDeliver = (a, m) -> { };

    public SimTracer(String side, TraceLog log) {
        this.side = side;
        this.log = log;
    }

    private boolean muted;

    /** Stops recording (the endpoint crashed, or the run is stopping its actors: Pekko stops siblings in hash order). */
    public void mute() {
        muted = true;
    }

    /** The exception an injected actor crash throws. */
    public static final class SimulatedCrash extends RuntimeException {
        public SimulatedCrash(String what) {
            super(what, null, false, false);
        }
    }

    private BiPredicate<String, Object> crashWhen;

    /** The next delivery that {@code when(actorName, message)} accepts throws (once); the message is not delivered. */
    public void crashOnce(BiPredicate<String, Object> when) {
        this.crashWhen = when;
    }

    private Runnable onStoppingCrash = () -> { };

    /** Runs (before the throw) when an actor without a supervision strategy of its own, the VM, is made to throw: it stops. */
    public void onStoppingCrash(Runnable hook) {
        this.onStoppingCrash = hook;
    }

    /** For tests that make the VM throw from an interceptor of their own: tells the run, as {@link #crashOnce} does. */
    public void stoppingCrash() {
        log.add("crash " + side + "/vm (planted)");
        onStoppingCrash.run();
    }

    /** Whether an armed crash has not fired yet. */
    public boolean crashPending() {
        return crashWhen != null;
    }

    /** The supervision strategy the named actor's own factory applies; null for the VM (not supervised by its factory: a throw stops it). */
    static SupervisorStrategy strategyOf(String actorName) {
        if (actorName.equals("vm")) {
            return null;
        }
        if (actorName.endsWith("/guest")) {
            return GuestActor.SUPERVISION;
        }
        if (actorName.contains("/peer-")) {
            return TapActor.SUPERVISION;
        }
        if (actorName.startsWith("nic-")) {
            return VirtioNetActor.SUPERVISION;
        }
        return MigrationCoordinator.SUPERVISION;
    }

    private java.util.function.BiFunction<String, Behavior<?>, Behavior<?>> innermost;

    /** For tests: wraps each behaviour spawned from now on (innermost, before the crash and trace interceptors). */
    public void wrapEach(java.util.function.BiFunction<String, Behavior<?>, Behavior<?>> wrap) {
        this.innermost = wrap;
    }

    public void onDeliver(BiConsumer<String, Object> hook) {
        this.onDeliver = hook;
    }

    /** The reference of the traced actor named {@code name} (as given to {@link #trace}), once it got a message. */
    @SuppressWarnings("unchecked")
    public <T> ActorRef<T> ref(String name) {
        return (ActorRef<T>) refs.get(name);
    }

    @Override
    @SuppressWarnings({"unchecked", "rawtypes"})
    public <T> Behavior<T> trace(String actorName, Behavior<T> behavior) {
        String name = side + "/" + actorName;
        if (innermost != null) {
            behavior = (Behavior<T>) innermost.apply(actorName, behavior);
        }
        Behavior<T> crashing = Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
            @Override
            public Behavior aroundReceive(TypedActorContext ctx, Object msg, ReceiveTarget target) {
                if (crashWhen != null && !muted && crashWhen.test(actorName, msg)) {
                    crashWhen = null;
                    log.add("crash " + name + " on " + msg.getClass().getSimpleName());
                    if (strategyOf(actorName) == null) {
                        onStoppingCrash.run();
                    }
                    throw new SimulatedCrash(name + " throws on " + msg.getClass().getSimpleName());
                }
                return target.apply(ctx, msg);
            }
        }, behavior);
        SupervisorStrategy strategy = strategyOf(actorName);
        Behavior<T> traced = Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
            @Override
            public Behavior aroundReceive(TypedActorContext ctx, Object msg, ReceiveTarget target) {
                refs.putIfAbsent(actorName, ctx.asJava().getSelf());
                if (muted) {
                    return target.apply(ctx, msg);
                }
                log.add(name + " <- " + msg.getClass().getSimpleName() + " " + TraceLog.canonical(msg));
                onDeliver.accept(actorName, msg);
                return target.apply(ctx, msg);
            }
        }, crashing);
        // For SimulatedCrash only: Pekko drops an outer supervisor when one for the same exception
        // class sits deeper in the stack (the actor's own), which would leave the crash unsupervised.
        return strategy == null ? traced : Behaviors.supervise(traced).onFailure(SimulatedCrash.class, strategy);
    }
}
