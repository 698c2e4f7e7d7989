package dev.livetap.simulation.trace;

import dev.livetap.actors.Tracer;
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
        return Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
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
        }, behavior);
    }
}
