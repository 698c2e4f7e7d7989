package dev.livetap.actors;

import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * Request-response between actors whose replies come straight back into the asker's own mailbox.
 *
 * <p>It replaces a short-lived responder child per request ({@code Asks}) on the switch-over path:
 * each such child cost an actor spawn, a timer and one more mailbox hand-off per request, and the
 * profile of the 4-queue switch-over (docs/profile-switchover.md) showed the downtime to be a chain
 * of such hand-offs. Here every reply goes to one message adapter of the asker, and is matched to
 * its request by its type and a key it carries (a queue number, a device id): the oldest open
 * request of that type and key wins. That is exact as long as one responder answers the requests of
 * one type in the order it received them - true of every actor here, each answers from the
 * handler of the request or from a gather that completes in request order.
 *
 * <p>Like {@code Asks}, everything is an ordinary message or a scheduler timer on the asker, so the
 * deterministic simulation orders it like any other message. A timeout reaches {@code
 * applyToResponse} as a {@link TimeoutException}; a reply after its timeout is dropped.
 *
 * <p>Not thread-safe: use it only from the asking actor's behaviour.
 *
 * @param <T> the asker's message type
 */
public final class Replies<T> {

    /** The wrapper the asker's adapter puts around a reply; the asker hands it to {@link #deliver}. */
    public record Reply(Object message) {
    }

    /** The wrapper of a timeout; also handed to {@link #deliver}. */
    public record Expired(long request) {
    }

    private record Pending<T>(Class<?> type, Object key, BiFunction<Object, Throwable, T> apply, Cancellable timer) {
    }

    private final ActorContext<T> ctx;
    private final Function<Object, Object> keyOf;
    private final Function<Object, T> wrap;
    private final ActorRef<Object> replyTo;
    private final LinkedHashMap<Long, Pending<T>> pending = new LinkedHashMap<>();
    private long nextRequest = 1;

    /**
     * @param wrap  turns a {@link Reply} or {@link Expired} into the asker's message type; the asker's
     *              handler for it calls {@link #deliver}
     * @param keyOf the key a reply carries (for instance its queue number); replies are matched on it
     * @param replyTypes every type of reply this asker expects. One adapter per type: an actor's
     *              message adapters share one reference and are told apart by the reply's class, so
     *              a catch-all type here would take the messages of the actor's other adapters.
     */
    public Replies(ActorContext<T> ctx, Function<Object, T> wrap, Function<Object, Object> keyOf,
            Class<?>... replyTypes) {
        this.ctx = ctx;
        this.keyOf = keyOf;
        this.wrap = wrap;
        ActorRef<?> ref = null;
        for (Class<?> type : replyTypes) {
            ref = ctx.messageAdapter(type, m -> wrap.apply(new Reply(m)));
        }
        if (ref == null) {
            throw new IllegalArgumentException("at least one reply type");
        }
        @SuppressWarnings("unchecked")
        ActorRef<Object> any = (ActorRef<Object>) ref;
        this.replyTo = any;
    }

    /**
     * Sends the request made by {@code createRequest}; the reply of type {@code resClass} whose key is
     * {@code key} (or the timeout) comes back as the message {@code applyToResponse} builds.
     */
    public <Req, Res> void ask(Class<Res> resClass, Object key, RecipientRef<Req> target, Duration timeout,
            Function<ActorRef<Res>, Req> createRequest, BiFunction<Res, Throwable, T> applyToResponse) {
        long id = nextRequest++;
        Cancellable timer = ctx.scheduleOnce(timeout, ctx.getSelf(), wrap.apply(new Expired(id)));
        @SuppressWarnings("unchecked")
        BiFunction<Object, Throwable, T> apply = (r, ex) -> applyToResponse.apply((Res) r, ex);
        pending.put(id, new Pending<>(resClass, key, apply, timer));
        @SuppressWarnings("unchecked")
        ActorRef<Res> typed = (ActorRef<Res>) (ActorRef<?>) replyTo;
        target.tell(createRequest.apply(typed));
    }

    /**
     * The message a {@link Reply} or {@link Expired} stands for, or null when it answers nothing
     * still open (a reply after its timeout, or after {@link #forgetAll}).
     */
    public T deliver(Object wrapped) {
        if (wrapped instanceof Expired e) {
            Pending<T> p = pending.remove(e.request());
            if (p == null) {
                return null;
            }
            return p.apply().apply(null, new TimeoutException("no " + p.type().getSimpleName() + " within the timeout"));
        }
        Object message = ((Reply) wrapped).message();
        Object key = keyOf.apply(message);
        for (Iterator<Map.Entry<Long, Pending<T>>> it = pending.entrySet().iterator(); it.hasNext(); ) {
            Pending<T> p = it.next().getValue();
            if (p.type().isInstance(message) && Objects.equals(p.key(), key)) {
                it.remove();
                p.timer().cancel();
                return p.apply().apply(message, null);
            }
        }
        ctx.getLog().debug("a late or unexpected reply dropped: {}", message.getClass().getSimpleName());
        return null;
    }

    /** Requests still waiting for their reply. */
    public int open() {
        return pending.size();
    }

    /** Forget every open request (their replies, when they come, are dropped). */
    public void forgetAll() {
        pending.values().forEach(p -> p.timer().cancel());
        pending.clear();
    }
}
