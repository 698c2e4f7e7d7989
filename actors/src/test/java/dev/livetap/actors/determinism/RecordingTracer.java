package dev.livetap.actors.determinism;

import dev.livetap.actors.Tracer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Records every message delivered to a traced actor as "actor <- message". Identity hashes, actor
 * uids (random by design) and the number of Pekko's materializer supervisors (a JVM-wide counter,
 * so it differs between two runs in one JVM) are removed; everything else must repeat exactly.
 */
public final class RecordingTracer implements Tracer {
    private static final Pattern UNSTABLE = Pattern.compile("#-?\\d+|@[0-9a-f]{4,}|0x[0-9a-f]{6,}|Lambda\\$\\d+/|(?<=StreamSupervisor-)\\d+");
    private final List<String> trace = new ArrayList<>();
    private final java.util.Set<String> threads = new java.util.TreeSet<>();

    /** Names of the threads that delivered traced messages: one, in a deterministic run. */
    public synchronized java.util.Set<String> threads() {
        return java.util.Set.copyOf(threads);
    }

    public synchronized List<String> trace() {
        return List.copyOf(trace);
    }

    synchronized void record(String actor, Object message) {
        threads.add(Thread.currentThread().getName());
        trace.add(actor + " <- " + UNSTABLE.matcher(String.valueOf(message)).replaceAll(""));
    }

    @Override
    @SuppressWarnings({"unchecked", "rawtypes"})
    public <T> Behavior<T> trace(String actorName, Behavior<T> behavior) {
        return Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
            @Override
            public Behavior aroundReceive(TypedActorContext ctx, Object msg, ReceiveTarget target) {
                record(actorName, msg);
                return target.apply(ctx, msg);
            }
        }, behavior);
    }
}
