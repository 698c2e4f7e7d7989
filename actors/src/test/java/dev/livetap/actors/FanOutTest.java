package dev.livetap.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.BehaviorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestInbox;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;

/** FanOut matches replies by request id only: a reply to another request, a second reply, a late one is not taken. */
class FanOutTest {

    record Ask(long requestId) {
    }

    record Answer(long requestId, String from) {
    }

    /** Drives one gather inside a behaviour (FanOut needs the asker's timers). */
    private record Step(java.util.function.Consumer<org.apache.pekko.actor.typed.javadsl.TimerScheduler<Object>> action) {
    }

    private static Behavior<Object> host() {
        return Behaviors.withTimers(timers -> Behaviors.receive(Object.class)
                .onMessage(Step.class, s -> {
                    s.action().accept(timers);
                    return Behaviors.same();
                })
                .onAnyMessage(m -> Behaviors.same())
                .build());
    }

    @Test
    void repliesAreMatchedByRequestIdNotByArrivalOrType() {
        BehaviorTestKit<Object> kit = BehaviorTestKit.create(host());
        TestInbox<Ask> a = TestInbox.create();
        TestInbox<Ask> b = TestInbox.create();
        List<Object> outcomes = new ArrayList<>();
        kit.run(new Step(timers -> {
            FanOut<Answer> f = FanOut.scatter("stop", Answer.class, 10, List.of("a", "b"), List.of(a.getRef(), b.getRef()),
                    (i, id) -> new Ask(id), timers, Duration.ofSeconds(1), id -> "timed out " + id);
            assertEquals(12, f.nextRequestId(), "the next gather starts after this one's ids");
            outcomes.add(f.offer(9, new Answer(9, "older gather"), timers));
            outcomes.add(f.offer(11, "not an Answer", timers));
            FanOut.Outcome<Answer> afterB = f.offer(11, new Answer(11, "b"), timers);
            outcomes.add(afterB);
            FanOut<Answer> waiting = ((FanOut.Waiting<Answer>) afterB).next();
            outcomes.add(waiting.offer(11, new Answer(11, "b again"), timers));
            assertEquals("stop of a failed: no Answer within the timeout", waiting.timedOut().message(false),
                    "the timeout names the first target still missing");
            assertEquals(List.of("a"), waiting.timedOut().missing());
            outcomes.add(waiting.offer(10, new Answer(10, "a"), timers));
        }));
        assertEquals(10, a.receiveMessage().requestId());
        assertEquals(11, b.receiveMessage().requestId());
        assertInstanceOf(FanOut.NotOurs.class, outcomes.get(0), "a reply to another gather's request is not ours");
        assertInstanceOf(FanOut.NotOurs.class, outcomes.get(1), "a reply of another type is not ours");
        assertInstanceOf(FanOut.Waiting.class, outcomes.get(2));
        assertInstanceOf(FanOut.NotOurs.class, outcomes.get(3), "a second reply to one request is not taken");
        FanOut.Gathered<?> done = assertInstanceOf(FanOut.Gathered.class, outcomes.get(4));
        assertEquals(List.of(new Answer(10, "a"), new Answer(11, "b")), done.replies(), "replies in request order");
    }

    @Test
    void aGatherWithoutTargetsIsCompleteAtOnce() {
        BehaviorTestKit<Object> kit = BehaviorTestKit.create(host());
        List<Boolean> complete = new ArrayList<>();
        kit.run(new Step(timers -> complete.add(FanOut.scatter("stop", Answer.class, 1, List.of(), List.<TestInbox<Ask>>of()
                .stream().map(TestInbox::getRef).toList(), (i, id) -> new Ask(id), timers, Duration.ofSeconds(1),
                id -> "timed out").complete())));
        assertTrue(complete.get(0));
    }
}
