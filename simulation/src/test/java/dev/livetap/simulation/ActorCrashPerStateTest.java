package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.simulation.trace.SimTracer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.TestInbox;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One crash per actor kind, in a chosen state, against the outcome docs/architecture.md
 * ("Supervision") documents: the actor throws (through the simulation's tracer, no hook in the
 * actor) on the first message of a given kind it receives while in that state. Queue, NIC and
 * roles resume: each stays in that state with its record, the lost message is turned into a
 * failure by the asker's timer. The VM is not supervised: it stops with its children, which close
 * their fds. Every run ends as documented with every invariant holding (single reader per queue,
 * fd conservation: no process holds an fd at the end of a run, the stopped VM's included).
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ActorCrashPerStateTest {
    private static final int RUNS = 6;

    /** What one batch of crashes in {@code state} showed. */
    private record Seen(Simulator.Batch batch, List<String> crashes, List<String> afterCrash) {
    }

    /**
     * A batch of fault-free runs in which the {@code side}'s actor that {@code actor} accepts throws
     * on the first message {@code message} accepts while it is in {@code state}.
     */
    private static Seen crashIn(String side, Predicate<String> actor, String state, Predicate<Object> message) {
        List<String> crashes = Collections.synchronizedList(new ArrayList<>());
        List<String> afterCrash = Collections.synchronizedList(new ArrayList<>());
        Consumer<SimRun> plant = run -> {
            run.plantedFault(side + " actor throws in " + state);
            boolean[] armed = {true};
            String[] crashed = {null};
            for (SimRun.Vm vm : run.vms()) {
                if (vm.name().equals(side)) {
                    vm.tracer.wrapEach((name, b) -> actor.test(name) ? crashing(name, b, state, message, armed, crashed,
                            crashes, afterCrash, vm.tracer) : b);
                }
            }
        };
        Simulator.Batch batch = Simulator.run(20261206, RUNS, List.of(Fault.NONE), 1, 4, 1, null, plant);
        return new Seen(batch, crashes, afterCrash);
    }

    /**
     * Asks the actor's state before each delivery (its read-only state question, as
     * {@link StateDiagramTest} does); throws once, in {@code state}, on {@code message}; records the
     * state the actor is in at its next delivery. The throw happens outside the actor's own
     * supervisor, so the tracer's supervisor with the kind's published strategy handles it.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Behavior<?> crashing(String actor, Behavior<?> behavior, String state, Predicate<Object> message,
            boolean[] armed, String[] crashed, List<String> crashes, List<String> afterCrash, SimTracer tracer) {
        TestInbox<Object> inbox = TestInbox.create();
        Function<Object, Object> ask = StateDiagramTest.question(actor, inbox);
        return Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
            @Override
            public Behavior aroundReceive(TypedActorContext ctx, Object msg, ReceiveTarget target) {
                target.apply(ctx, ask.apply(null));
                String now = StateDiagramTest.answer(inbox.receiveMessage());
                if (actor.equals(crashed[0])) {
                    afterCrash.add(now); // the first delivery after the crash: the state it resumed in
                    crashed[0] = null;
                }
                if (armed[0] && state.equals(now) && message.test(msg)) {
                    armed[0] = false;
                    crashed[0] = actor;
                    crashes.add(actor + " in " + state + " on " + msg.getClass().getSimpleName());
                    if (actor.equals("vm")) {
                        tracer.stoppingCrash(); // not supervised: it stops, and the run loses the endpoint
                    }
                    throw new SimTracer.SimulatedCrash(actor + " throws in " + state);
                }
                return target.apply(ctx, msg);
            }
        }, (Behavior) behavior);
    }

    private static void assertDocumentedOutcome(Seen seen, String state, Map<String, Integer> outcomes) {
        assertEquals(List.of(), seen.batch().violations().stream().map(r -> r.violation().getMessage()).toList(),
                "every invariant holds after the crash (no second reader, no fd leaked)");
        assertEquals(RUNS, seen.crashes().size(), "one crash per run, in state " + state + ": " + seen.crashes());
        assertTrue(seen.afterCrash().stream().allMatch(state::equals),
                "resume keeps the actor in the state it threw in (" + state + "): " + seen.afterCrash());
        assertEquals(outcomes, seen.batch().outcomes(), "the documented outcome of each run");
    }

    @Test
    void aQueueThatThrowsWhilePausedStaysPausedWithItsFdAndTheMigrationRollsBack() {
        Seen seen = crashIn("source", a -> a.contains("/peer-"), "paused", m -> m instanceof PeerBackend.Save);
        assertDocumentedOutcome(seen, "paused", Map.of("failed", RUNS));
    }

    @Test
    void aQueueThatThrowsWhileTransferredKeepsItsFdUntilTheTeardownAndTheMigrationCompletes() {
        Seen seen = crashIn("source", a -> a.contains("/peer-"), "transferred", m -> m instanceof PeerBackend.Release);
        assertDocumentedOutcome(seen, "transferred", Map.of("completed", RUNS));
    }

    @Test
    void aNicThatThrowsWhileStoppingLosesTheSaveAndTheSourceRollsBack() {
        Seen seen = crashIn("source", a -> a.startsWith("nic-"), "stopping", m -> m instanceof VirtioNetActor.SaveSection);
        assertDocumentedOutcome(seen, "stopping", Map.of("failed", RUNS));
    }

    @Test
    void aSourceRoleThatThrowsWhileStoppingTimesOutAndRollsBack() {
        Seen seen = crashIn("source", a -> a.startsWith("migration-"), "stopping",
                m -> m.getClass().getSimpleName().equals("NicReply"));
        assertDocumentedOutcome(seen, "stopping", Map.of("failed", RUNS));
    }

    @Test
    void aSourceVmThatThrowsInFinishMigrateStopsWithItsActorsAndTheirFdsAndTheTargetFollowsTheSourceCrashRule() {
        Seen seen = crashIn("source", "vm"::equals, "finishMigrate", m -> m.getClass().getSimpleName().equals("FromCoordinator"));
        assertEquals(List.of(), seen.batch().violations().stream().map(r -> r.violation().getMessage()).toList(),
                "every invariant holds after the VM stopped (its actors closed every fd of the source process)");
        assertEquals(RUNS, seen.crashes().size(), "one crash per run: " + seen.crashes());
        assertEquals(List.of(), seen.afterCrash(), "a stopped VM gets no further message");
        Map<String, Integer> outcomes = seen.batch().outcomes();
        assertEquals(RUNS, outcomes.getOrDefault("source_crashed_device_lost", 0)
                + outcomes.getOrDefault("source_crashed_target_owns", 0), "the source-crash rule decides each run: " + outcomes);
    }

    @Test
    void aTargetRoleThatThrowsWhileLoadingTimesOutAndDiscards() {
        Seen seen = crashIn("target", a -> a.startsWith("migration-"), "loading",
                m -> m.getClass().getSimpleName().equals("NicReply"));
        assertDocumentedOutcome(seen, "loading", Map.of("failed", RUNS));
    }
}
