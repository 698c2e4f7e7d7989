package dev.livetap.actors;

import java.util.Map;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.Signal;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.slf4j.Logger;
import org.slf4j.MDC;

/**
 * The routine lines of a migration (each status, a section loaded, a socket listening): INFO,
 * except for the engine's own warm-up, whose actors run with {@value #WARM_UP_MDC_KEY} in the MDC
 * ({@link #WARM_UP}) and log them at DEBUG: a VMM's start is not thirteen migrations' worth of news.
 */
public final class RoutineLog {
    /** MDC key present while an actor of the warm-up handles a message. */
    public static final String WARM_UP_MDC_KEY = "livetapWarmUp";

    /**
     * Decorates every behaviour of a warm-up VM. Not {@code Behaviors.withMdc}: an outer withMdc
     * replaces the migration's own (Pekko keeps the outermost), this one adds a key beside it.
     */
    public static final Tracer WARM_UP = new Tracer() {
        @Override
        @SuppressWarnings("unchecked")
        public <T> Behavior<T> trace(String actorName, Behavior<T> behavior) {
            return Behaviors.intercept(() -> new WarmUpMdc<>((Class<T>) Object.class), behavior);
        }
    };

    private RoutineLog() {
    }

    /** {@code log.info}, or {@code log.debug} on a warm-up's actor. */
    public static void info(Logger log, String format, Object... arguments) {
        if (isWarmUp()) {
            log.debug(format, arguments);
        } else {
            log.info(format, arguments);
        }
    }

    public static boolean isWarmUp() {
        return MDC.get(WARM_UP_MDC_KEY) != null;
    }

    /** Runs {@code r} with {@code mdc} (captured on another thread, e.g. an actor's) as this thread's MDC. */
    public static void withMdc(Map<String, String> mdc, Runnable r) {
        Map<String, String> before = MDC.getCopyOfContextMap();
        if (mdc == null) {
            MDC.clear();
        } else {
            MDC.setContextMap(mdc);
        }
        try {
            r.run();
        } finally {
            if (before == null) {
                MDC.clear();
            } else {
                MDC.setContextMap(before);
            }
        }
    }

    private static final class WarmUpMdc<T> extends BehaviorInterceptor<T, T> {
        WarmUpMdc(Class<T> messages) {
            super(messages);
        }

        @Override
        public Behavior<T> aroundReceive(TypedActorContext<T> ctx, T msg, ReceiveTarget<T> target) {
            MDC.put(WARM_UP_MDC_KEY, "true");
            try {
                return target.apply(ctx, msg);
            } finally {
                MDC.remove(WARM_UP_MDC_KEY);
            }
        }

        @Override
        public Behavior<T> aroundSignal(TypedActorContext<T> ctx, Signal signal, SignalTarget<T> target) {
            MDC.put(WARM_UP_MDC_KEY, "true");
            try {
                return target.apply(ctx, signal);
            } finally {
                MDC.remove(WARM_UP_MDC_KEY);
            }
        }

        @Override
        public Behavior<T> aroundStart(TypedActorContext<T> ctx, PreStartTarget<T> target) {
            MDC.put(WARM_UP_MDC_KEY, "true");
            try {
                return target.start(ctx);
            } finally {
                MDC.remove(WARM_UP_MDC_KEY);
            }
        }
    }
}
