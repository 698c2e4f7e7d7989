package dev.livetap.actors;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Request-response between actors without futures: a short-lived child receives the one reply (or
 * its timer fires) and sends the mapped result to the asker. Pekko's {@code ActorContext.ask}
 * completes a promise and hops through CompletionStage callbacks, whose place in the message order
 * was not reproducible from run to run in the determinism spike; a child actor is an ordinary
 * mailbox on the FIFO executor, and its timeout an ordinary Pekko timer.
 *
 * <p>{@code applyToResponse} runs in the child, so it must only build a message (never touch the
 * asker's state); a timeout reaches it as a {@link TimeoutException}.
 */
public final class Asks {
    private Asks() {
    }

    private enum Timeout { INSTANCE }

    public static <Req, Res, T> void ask(ActorContext<T> ctx, Class<Res> resClass, RecipientRef<Req> target,
            Duration timeout, Function<ActorRef<Res>, Req> createRequest, BiFunction<Res, Throwable, T> applyToResponse) {
        ActorRef<T> asker = ctx.getSelf();
        String what = resClass.getSimpleName();
        ActorRef<Object> responder = ctx.spawnAnonymous(Behaviors.<Object>withTimers(timers -> {
            timers.startSingleTimer(Timeout.INSTANCE, timeout);
            return Behaviors.receiveMessage(msg -> {
                if (msg == Timeout.INSTANCE) {
                    asker.tell(applyToResponse.apply(null, new TimeoutException("no " + what + " within "
                            + timeout.toMillis() + " ms")));
                } else if (resClass.isInstance(msg)) {
                    asker.tell(applyToResponse.apply(resClass.cast(msg), null));
                } else {
                    return Behaviors.same();
                }
                return Behaviors.stopped();
            });
        }));
        target.tell(createRequest.apply(responder.narrow()));
    }
}
