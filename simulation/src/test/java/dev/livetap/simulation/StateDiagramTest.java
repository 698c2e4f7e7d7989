package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.nic.PeerBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.testkit.typed.javadsl.TestInbox;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The queue's state diagram in docs/architecture.md against what a simulated batch does: every
 * state change a TAP queue goes through in the runs (all faults) must be an arrow of the diagram.
 * The state is read without a hook in the actor: an interceptor the test puts in front of each
 * queue (through the simulation's tracer) asks the queue's own {@code GetStatus} before each
 * delivery, with a synchronous inbox as the reply address, so no message enters a mailbox and
 * the run's order is unchanged.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StateDiagramTest {
    private static final Pattern ARROW = Pattern.compile("^\\s*(\\S+)\\s*-->\\s*(\\S+?)\\s*(?::.*)?$");

    /** The arrows of the mermaid block that follows {@code heading} in docs/architecture.md. */
    static Set<String> diagram(String heading) throws IOException {
        Path doc = Path.of("..", "docs", "architecture.md");
        List<String> lines = Files.readAllLines(doc);
        int i = 0;
        while (i < lines.size() && !lines.get(i).startsWith(heading)) {
            i++;
        }
        while (i < lines.size() && !lines.get(i).startsWith("```mermaid")) {
            i++;
        }
        Set<String> arrows = new TreeSet<>();
        for (i++; i < lines.size() && !lines.get(i).startsWith("```"); i++) {
            Matcher m = ARROW.matcher(lines.get(i));
            if (m.matches()) {
                arrows.add(m.group(1) + " -> " + m.group(2));
            }
        }
        assertTrue(arrows.size() > 3, "the diagram after '" + heading + "' is found and parsed: " + arrows);
        return arrows;
    }

    private static String stateName(String status) {
        return status.equals("waiting-incoming") ? "waitingIncoming" : status;
    }

    /** Records each queue's state changes (by actor, per run) into {@code observed}, with the message that caused it. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Behavior<?> observed(String side, String actor, Behavior<?> behavior, Map<String, String> observed) {
        String[] last = {null};
        Object[] cause = {null};
        return Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
            @Override
            public Behavior aroundReceive(TypedActorContext ctx, Object msg, ReceiveTarget target) {
                TestInbox<PeerBackend.Status> inbox = TestInbox.create();
                target.apply(ctx, new PeerBackend.GetStatus(-1, inbox.getRef()));
                String now = stateName(inbox.receiveMessage().state());
                String arrow = (last[0] == null ? "[*]" : last[0]) + " -> " + now;
                if (!now.equals(last[0])) {
                    observed.putIfAbsent(arrow, side + "/" + actor + " after "
                            + (cause[0] == null ? "spawn" : cause[0].getClass().getSimpleName()));
                }
                last[0] = now;
                cause[0] = msg;
                return target.apply(ctx, msg);
            }
        }, (Behavior) behavior);
    }

    @Test
    void everyQueueTransitionTheSimulationObservesIsInTheDiagram() throws IOException {
        Set<String> allowed = diagram("Queue (`TapActor`");
        Map<String, String> observed = Collections.synchronizedMap(new TreeMap<>());
        Consumer<SimRun> plant = run -> run.vms().forEach(vm -> vm.tracer.wrapEach((actor, b) ->
                actor.contains("/peer-") ? observed(vm.name(), actor, b, observed) : b));
        Simulator.Batch batch = Simulator.run(7, 150, List.of(Fault.values()), 1, 4, 1, null, plant);
        assertEquals(List.of(), batch.violations().stream().map(r -> r.violation().getMessage()).toList(),
                "the observed batch itself holds every invariant");
        List<String> missing = new ArrayList<>();
        observed.forEach((arrow, where) -> {
            if (!allowed.contains(arrow)) {
                missing.add(arrow + " (" + where + ")");
            }
        });
        assertTrue(observed.size() >= 6, "the batch exercises the queue machine: " + observed.keySet());
        assertEquals(List.of(), missing, "transitions the simulation observed that the queue diagram lacks; observed: "
                + observed.keySet());
    }
}
