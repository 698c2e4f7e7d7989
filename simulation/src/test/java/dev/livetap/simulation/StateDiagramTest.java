package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.StateName;
import dev.livetap.actors.migration.MigrationCoordinator;
import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmReply;
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
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.testkit.typed.javadsl.TestInbox;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.BehaviorInterceptor;
import org.apache.pekko.actor.typed.TypedActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The state diagrams in docs/architecture.md against what a simulated batch does: every state
 * change a queue, a NIC, a VM, a source role or a target role goes through in the runs (all
 * faults) must be an arrow of its diagram. The state is read without a hook in the actor: an
 * interceptor the test puts in front of each actor (through the simulation's tracer) asks the
 * actor's own read-only state question (the queue's {@code GetStatus}, the NIC's and the roles'
 * {@code GetState}, the VM's {@code QueryStatus}) before each delivery, with a synchronous inbox as
 * the reply address, so no message enters a mailbox and the run's order is unchanged.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StateDiagramTest {
    private static final Pattern ARROW = Pattern.compile("^\\s*(\\S+)\\s*-->\\s*(\\S+?)\\s*(?::.*)?$");

    /** Machine → arrow → where it was first seen; filled once by one batch for every test below. */
    private static final Map<String, Map<String, String>> OBSERVED = Collections.synchronizedMap(new TreeMap<>());
    private static List<String> batchViolations;

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

    /** QEMU's run-state names as the VM diagram writes them ({@code finish-migrate} → {@code finishMigrate}). */
    private static String camel(String name) {
        StringBuilder b = new StringBuilder();
        boolean up = false;
        for (char c : name.toCharArray()) {
            if (c == '-' || c == '_') {
                up = true;
            } else {
                b.append(up ? Character.toUpperCase(c) : c);
                up = false;
            }
        }
        return b.toString();
    }

    /** Which machine an actor of the tracer is, and how to ask its state; null for actors without a diagram. */
    static Function<Object, Object> question(String actor, TestInbox<Object> inbox) {
        if (actor.equals("vm")) {
            return x -> new VmActor.QueryStatus(inbox.getRef().narrow());
        }
        if (actor.contains("/peer-")) {
            return x -> new PeerBackend.GetStatus(-1, inbox.getRef().narrow());
        }
        if (actor.endsWith("/guest")) {
            return null;
        }
        if (actor.startsWith("nic-")) {
            return x -> new VirtioNetActor.GetState(inbox.getRef().narrow());
        }
        return x -> new MigrationCoordinator.GetState(inbox.getRef().narrow());
    }

    static String answer(Object reply) {
        if (reply instanceof VmReply.Status s) {
            return camel(s.runState().qmpName());
        }
        if (reply instanceof PeerBackend.Status s) {
            return camel(s.state());
        }
        return ((StateName) reply).state();
    }

    private static String machine(String actor, String firstState) {
        if (actor.equals("vm")) {
            return "vm";
        }
        if (actor.contains("/peer-")) {
            return "queue";
        }
        if (actor.startsWith("nic-")) {
            return "nic";
        }
        return firstState.equals("settingUp") ? "source" : "target";
    }

    /** Records each actor's state changes (per machine, per run) with the message that caused them. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Behavior<?> observed(String side, String actor, Behavior<?> behavior) {
        TestInbox<Object> inbox = TestInbox.create();
        Function<Object, Object> ask = question(actor, inbox);
        if (ask == null) {
            return behavior;
        }
        String[] last = {null};
        String[] kind = {null};
        Object[] cause = {null};
        return Behaviors.intercept(() -> new BehaviorInterceptor(Object.class) {
            @Override
            public Behavior aroundReceive(TypedActorContext ctx, Object msg, ReceiveTarget target) {
                target.apply(ctx, ask.apply(null));
                String now = answer(inbox.receiveMessage());
                if (kind[0] == null) {
                    kind[0] = machine(actor, now);
                }
                if (!now.equals(last[0])) {
                    OBSERVED.computeIfAbsent(kind[0], k -> Collections.synchronizedMap(new TreeMap<>())).putIfAbsent(
                            (last[0] == null ? "[*]" : last[0]) + " -> " + now, side + "/" + actor + " after "
                                    + (cause[0] == null ? "spawn" : cause[0].getClass().getSimpleName()));
                }
                last[0] = now;
                cause[0] = msg;
                return target.apply(ctx, msg);
            }
        }, (Behavior) behavior);
    }

    @BeforeAll
    static void observeABatch() {
        Consumer<SimRun> plant = run -> run.vms().forEach(vm -> vm.tracer.wrapEach((actor, b) -> observed(vm.name(), actor, b)));
        Simulator.Batch batch = Simulator.run(7, 150, List.of(Fault.values()), 1, 4, 1, null, plant);
        batchViolations = batch.violations().stream().map(r -> r.violation().getMessage()).toList();
    }

    private static void check(String machine, String heading, int atLeast) throws IOException {
        assertEquals(List.of(), batchViolations, "the observed batch itself holds every invariant");
        Set<String> allowed = diagram(heading);
        Map<String, String> observed = OBSERVED.getOrDefault(machine, Map.of());
        System.out.println(machine + " transitions observed: " + observed.keySet());
        List<String> missing = new ArrayList<>();
        observed.forEach((arrow, where) -> {
            if (!allowed.contains(arrow)) {
                missing.add(arrow + " (" + where + ")");
            }
        });
        assertTrue(observed.size() >= atLeast, "the batch exercises the " + machine + " machine: " + observed.keySet());
        assertEquals(List.of(), missing, "transitions the simulation observed that the " + machine
                + " diagram lacks; observed: " + observed.keySet());
    }

    @Test
    void everyQueueTransitionTheSimulationObservesIsInTheDiagram() throws IOException {
        check("queue", "Queue (`TapActor`", 6);
    }

    @Test
    void everyNicTransitionTheSimulationObservesIsInTheDiagram() throws IOException {
        check("nic", "NIC (`VirtioNetActor`)", 3);
    }

    @Test
    void everyVmTransitionTheSimulationObservesIsInTheDiagram() throws IOException {
        check("vm", "VM (`VmActor`)", 5);
    }

    @Test
    void everySourceTransitionTheSimulationObservesIsInTheDiagram() throws IOException {
        check("source", "Source (`SourceMigration`", 8);
    }

    @Test
    void everyTargetTransitionTheSimulationObservesIsInTheDiagram() throws IOException {
        check("target", "Target (`TargetMigration`", 8);
    }
}
