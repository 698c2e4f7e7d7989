package dev.livetap.actors;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One scatter/gather: a request to each of several actors, their replies gathered, one timeout for
 * the lot. It is an immutable value: the state a behaviour carries holds it, and each reply gives a
 * new one ({@link #offer}).
 *
 * <p>Replies are matched by request id, exactly: request {@code i} carries {@code firstRequestId + i}
 * and its reply carries the same number back, so a reply can never be taken for another request
 * (an answer to an older gather, a second reply of the same type). A reply whose id this gather does
 * not own is {@link NotOurs}: the asker drops it (a late reply after a timeout or a failure).
 *
 * <p>No {@code ask}: the requests are ordinary messages whose replies come back through one message
 * adapter of the asker, and the timeout is a timer of the asker. Everything is then a message in the
 * asker's own mailbox, which the deterministic simulation orders like any other (docs/architecture.md,
 * "Timers and request-response" and design decision 4).
 *
 * @param what           what the gather does, in error texts ("stop", "save")
 * @param replyType      the type of the replies (its name is in the timeout's text)
 * @param firstRequestId the id of the first target's request; the next gather starts at {@link #nextRequestId()}
 * @param names          the targets' names, in request order (device ids, queue numbers)
 * @param replies        the replies so far, in request order
 * @param missing        how many replies are still missing
 * @param <R>            the reply type
 */
public record FanOut<R>(String what, Class<R> replyType, long firstRequestId, List<String> names,
        List<Optional<R>> replies, int missing) {

    public FanOut {
        names = List.copyOf(names);
        replies = Collections.unmodifiableList(new ArrayList<>(replies));
    }

    /** Builds the request sent to target {@code index} with the id its reply must carry. */
    @FunctionalInterface
    public interface RequestFactory<Q> {
        Q request(int index, long requestId);
    }

    /** The timer message of a gather: it names the gather by its first request id. */
    @FunctionalInterface
    public interface TimeoutFactory<T> {
        T timedOut(long firstRequestId);
    }

    /** What one reply did to a gather. */
    public sealed interface Outcome<R> permits Waiting, Gathered, NotOurs {
    }

    /** Still waiting for others: carry on with {@code next}. */
    public record Waiting<R>(FanOut<R> next) implements Outcome<R> {
    }

    /** Every reply is in, in request order. */
    public record Gathered<R>(List<R> replies) implements Outcome<R> {
        public Gathered {
            replies = List.copyOf(replies);
        }
    }

    /** The reply answers no request of this gather (a late reply, or another gather's). */
    public record NotOurs<R>() implements Outcome<R> {
    }

    /**
     * The typed partial failure: the gather timed out with {@code missing} unanswered and
     * {@code received} answered.
     */
    public record TimedOut(String what, String replyType, List<String> missing, int received) {
        public TimedOut {
            missing = List.copyOf(missing);
        }

        /** The text users see: {@code "stop of nic1 failed: no Stopped within the timeout"} (no name for a single target). */
        public String message(boolean single) {
            return what + (single ? "" : " of " + missing.get(0)) + " failed: no " + replyType + " within the timeout";
        }
    }

    /**
     * Sends one request to each target and starts the gather's timer (key: {@link #timerKey()});
     * with no targets the gather is already complete.
     */
    public static <Q, R, T> FanOut<R> scatter(String what, Class<R> replyType, long firstRequestId, List<String> names,
            List<? extends RecipientRef<Q>> targets, RequestFactory<Q> request, TimerScheduler<T> timers,
            Duration timeout, TimeoutFactory<T> onTimeout) {
        if (names.size() != targets.size()) {
            throw new IllegalArgumentException(names.size() + " names for " + targets.size() + " targets");
        }
        FanOut<R> f = new FanOut<>(what, replyType, firstRequestId, names,
                Collections.nCopies(targets.size(), Optional.empty()), targets.size());
        if (!targets.isEmpty()) {
            timers.startSingleTimer(f.timerKey(), onTimeout.timedOut(firstRequestId), timeout);
        }
        for (int i = 0; i < targets.size(); i++) {
            targets.get(i).tell(request.request(i, firstRequestId + i));
        }
        return f;
    }

    /** The id the next gather of the same asker starts at. */
    public long nextRequestId() {
        return firstRequestId + names.size();
    }

    public boolean complete() {
        return missing == 0;
    }

    /** The replies of a complete gather, in request order. */
    public List<R> gathered() {
        if (!complete()) {
            throw new IllegalStateException(what + ": " + missing + " replies missing");
        }
        List<R> out = new ArrayList<>(replies.size());
        replies.forEach(r -> out.add(r.orElseThrow()));
        return List.copyOf(out);
    }

    public boolean owns(long requestId) {
        return requestId >= firstRequestId && requestId < nextRequestId();
    }

    /** The timer key of this gather. */
    public String timerKey() {
        return "fan-out-" + firstRequestId;
    }

    /** Stops the gather's timer (the gather completed, or its owner gave up on it). */
    public <T> void cancelTimer(TimerScheduler<T> timers) {
        timers.cancel(timerKey());
    }

    /**
     * The gather after the reply {@code reply} to request {@code requestId}. A second reply to the
     * same request is not ours either (each request has one answer). When this completes the gather,
     * its timer is cancelled.
     */
    public <T> Outcome<R> offer(long requestId, Object reply, TimerScheduler<T> timers) {
        if (!owns(requestId) || !replyType.isInstance(reply)) {
            return new NotOurs<>();
        }
        int index = (int) (requestId - firstRequestId);
        if (replies.get(index).isPresent()) {
            return new NotOurs<>();
        }
        List<Optional<R>> next = new ArrayList<>(replies);
        next.set(index, Optional.of(replyType.cast(reply)));
        FanOut<R> f = new FanOut<>(what, replyType, firstRequestId, names, next, missing - 1);
        if (f.complete()) {
            cancelTimer(timers);
            return new Gathered<>(f.gathered());
        }
        return new Waiting<>(f);
    }

    /** The typed partial failure of this gather when its timer fires. */
    public TimedOut timedOut() {
        List<String> absent = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            if (replies.get(i).isEmpty()) {
                absent.add(names.get(i));
            }
        }
        return new TimedOut(what, replyType.getSimpleName(), absent, names.size() - absent.size());
    }
}
