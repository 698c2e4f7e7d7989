package dev.livetap.actors;

import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The handlers of one state of a state machine whose state travels in a record: built once (a
 * static table per state), each handler given the actor's environment, the state record and the
 * message. {@link #behavior} is the state's behaviour for one state record.
 *
 * <p>Why not {@code Behaviors.receive(Class).onMessage(…).build()} in the state's method: that
 * builds every case again for each message (the record changes with most messages, so the
 * behaviour does too), and with two dozen cases the building cost more than the handling on the
 * switch-over path (docs/benchmarks.md, "Switch-over hot path"). Here a message costs one
 * behaviour object and a look-up in the table; cases are tried in the order they were added, the
 * first whose type matches handles the message, none: {@code Behaviors.unhandled()}.
 *
 * @param <E> what the actor keeps for its whole life (context, timers, configuration)
 * @param <S> the state record
 * @param <T> the actor's message type
 */
public final class StateHandlers<E, S, T> {

    /** Handles one message (or signal) of type {@code M} in state {@code state}. */
    @FunctionalInterface
    public interface Handler<E, S, M, T> {
        Behavior<T> apply(E env, S state, M message);
    }

    private record Case<E, S, T>(Class<?> type, Handler<E, S, Object, T> handler) {
    }

    private final List<Case<E, S, T>> messages;
    private final List<Case<E, S, T>> signals;

    private StateHandlers(List<Case<E, S, T>> messages, List<Case<E, S, T>> signals) {
        this.messages = List.copyOf(messages);
        this.signals = List.copyOf(signals);
    }

    public static <E, S, T> Builder<E, S, T> builder() {
        return new Builder<>(List.of(), List.of());
    }

    /** A builder with these cases first (e.g. what every state handles alike), to add a state's own. */
    public Builder<E, S, T> toBuilder() {
        return new Builder<>(messages, signals);
    }

    /** The state's behaviour with {@code state} as its record. */
    public Behavior<T> behavior(E env, S state) {
        return Behaviors.receive((ctx, m) -> receive(env, state, m), (ctx, signal) -> signal(env, state, signal));
    }

    /** Handles {@code message} in {@code state}: the first case of its type, or unhandled. */
    public Behavior<T> receive(E env, S state, T message) {
        for (int i = 0; i < messages.size(); i++) {
            Case<E, S, T> c = messages.get(i);
            if (c.type().isInstance(message)) {
                return c.handler().apply(env, state, message);
            }
        }
        return Behaviors.unhandled();
    }

    private Behavior<T> signal(E env, S state, Signal signal) {
        for (int i = 0; i < signals.size(); i++) {
            Case<E, S, T> c = signals.get(i);
            if (c.type().isInstance(signal)) {
                return c.handler().apply(env, state, signal);
            }
        }
        return Behaviors.unhandled();
    }

    /** Collects the cases; {@link #build} makes the immutable table. */
    public static final class Builder<E, S, T> {
        private final List<Case<E, S, T>> messages;
        private final List<Case<E, S, T>> signals;

        private Builder(List<Case<E, S, T>> messages, List<Case<E, S, T>> signals) {
            this.messages = new ArrayList<>(messages);
            this.signals = new ArrayList<>(signals);
        }

        @SuppressWarnings("unchecked")
        public <M extends T> Builder<E, S, T> on(Class<M> type, Handler<E, S, ? super M, T> handler) {
            messages.add(new Case<>(type, (Handler<E, S, Object, T>) handler));
            return this;
        }

        @SuppressWarnings("unchecked")
        public <G extends Signal> Builder<E, S, T> onSignal(Class<G> type, Handler<E, S, ? super G, T> handler) {
            signals.add(new Case<>(type, (Handler<E, S, Object, T>) handler));
            return this;
        }

        public StateHandlers<E, S, T> build() {
            return new StateHandlers<>(messages, signals);
        }
    }
}
