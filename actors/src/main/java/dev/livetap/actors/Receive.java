package dev.livetap.actors;

import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.japi.function.Creator;
import org.apache.pekko.japi.function.Function;

/**
 * A state's cases, written as with Pekko's {@code Behaviors.receive(Class)} builder (the same
 * methods, the same matching: the first case whose type matches, else unhandled) but cheap to
 * build. A state machine whose state travels in a record builds its state's behaviour again for
 * almost every message; Pekko's builder copies an immutable Scala list per case added (quadratic in
 * the number of cases) and then an array, which made building cost more than handling on the
 * switch-over path (docs/benchmarks.md, "Switch-over hot path"). Here a case is one small object in
 * a list, built once per behaviour.
 *
 * @param <T> the actor's message type
 */
public final class Receive<T> {

    private record Case<T>(Class<?> type, Object equalTo, Function<Object, Behavior<T>> handler) {
    }

    private final List<Case<T>> messages = new ArrayList<>(24);
    private final List<Case<T>> signals = new ArrayList<>(2);

    private Receive() {
    }

    /** An empty builder for messages of {@code type} (as {@code Behaviors.receive(type)}). */
    public static <T> Receive<T> of(Class<T> type) {
        return new Receive<>();
    }

    @SuppressWarnings("unchecked")
    public <M extends T> Receive<T> onMessage(Class<M> type, Function<M, Behavior<T>> handler) {
        messages.add(new Case<>(type, null, (Function<Object, Behavior<T>>) (Function<?, Behavior<T>>) handler));
        return this;
    }

    /** A case for one message value (compared with {@code equals}). */
    public Receive<T> onMessageEquals(T message, Creator<Behavior<T>> handler) {
        messages.add(new Case<>(null, message, m -> handler.create()));
        return this;
    }

    @SuppressWarnings("unchecked")
    public Receive<T> onAnyMessage(Function<T, Behavior<T>> handler) {
        messages.add(new Case<>(Object.class, null, (Function<Object, Behavior<T>>) (Function<?, Behavior<T>>) handler));
        return this;
    }

    @SuppressWarnings("unchecked")
    public <G extends Signal> Receive<T> onSignal(Class<G> type, Function<G, Behavior<T>> handler) {
        signals.add(new Case<>(type, null, (Function<Object, Behavior<T>>) (Function<?, Behavior<T>>) handler));
        return this;
    }

    /** The behaviour; this builder must not be changed after. */
    public Behavior<T> build() {
        List<Case<T>> m = messages;
        List<Case<T>> s = signals;
        return Behaviors.receive((ctx, message) -> dispatch(m, message), (ctx, signal) -> dispatch(s, signal));
    }

    /**
     * The behaviour, handling every message and signal with {@code migrationId} in the MDC (as
     * {@code Behaviors.withMdc} would, without its interceptor, which is wrapped again around every
     * new behaviour, and without a new MDC map per message: Pekko clears the MDC after each).
     */
    public Behavior<T> build(String migrationId) {
        List<Case<T>> m = messages;
        List<Case<T>> s = signals;
        return Behaviors.receive((ctx, message) -> dispatch(m, message, migrationId),
                (ctx, signal) -> dispatch(s, signal, migrationId));
    }

    private static <T> Behavior<T> dispatch(List<Case<T>> cases, Object message, String migrationId) throws Exception {
        String before = MigrationMdc.enter(migrationId);
        try {
            return dispatch(cases, message);
        } finally {
            MigrationMdc.leave(before);
        }
    }

    private static <T> Behavior<T> dispatch(List<Case<T>> cases, Object message) throws Exception {
        for (int i = 0; i < cases.size(); i++) {
            Case<T> c = cases.get(i);
            if (c.type() == null ? c.equalTo().equals(message) : c.type().isInstance(message)) {
                return c.handler().apply(message);
            }
        }
        return Behaviors.unhandled();
    }
}
