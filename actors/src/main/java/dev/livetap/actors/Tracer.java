package dev.livetap.actors;

import org.apache.pekko.actor.typed.Behavior;

/**
 * Decorates the behaviours a VM endpoint spawns (NICs, their guest and peers, coordinators), e.g.
 * with a message-recording interceptor: the deterministic simulation compares such traces.
 * {@link #NONE} changes nothing.
 */
@FunctionalInterface
public interface Tracer {
    Tracer NONE = new Tracer() {
        @Override
        public <T> Behavior<T> trace(String actorName, Behavior<T> behavior) {
            return behavior;
        }
    };

    <T> Behavior<T> trace(String actorName, Behavior<T> behavior);
}
