package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static dev.livetap.fleet.testing.CoordinatorAsk.awaitStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.HostAgent.PerformStep;
import dev.livetap.fleet.bench.StubAgent;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StartStep;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepGranted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plan's time limits against agents that misbehave on purpose (stand-in agents registered under
 * the agents' key, so the coordinator cannot tell them from real ones): a step its agent does not
 * answer is sent again with the same migration id; a host whose agent is gone leaves the plan's way
 * (its open step unknown), is given up past the host-down limit and counted as a failure, and an
 * agent that comes back gets its unknown step again under the same id.
 */
class PlanTimeLimitsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    /** Every PerformStep a stand-in agent received: "host vm id". */
    private final Queue<String> received = new ConcurrentLinkedQueue<>();

    /**
     * A stand-in agent of {@code host} with {@code vms}: it drops the first {@code drops} receipts of
     * each step, answers the rest {@code completed}; with {@code dieOnFirstStep} it stops on its first
     * step instead (the agent gone mid-step).
     */
    private Behavior<HostAgent.Command> standIn(String host, List<String> vms, int drops, boolean dieOnFirstStep) {
        Map<String, Integer> seen = new java.util.concurrent.ConcurrentHashMap<>();
        return StubAgent.create(host, vms, p -> {
            received.add(p.host() + " " + p.vm() + " " + p.migrationId());
            if (dieOnFirstStep) {
                return false;
            }
            return seen.merge(p.migrationId(), 1, Integer::sum) <= drops || StubAgent.complete(p, 1.0);
        });
    }

    private static ActorRef<HostAgent.Command> spawn(FleetNode node, String host, Behavior<HostAgent.Command> b) {
        // the driver reads the host from the name; a returning agent reuses the name of the one that stopped
        return node.system().systemActorOf(b, HostAgent.ACTOR_NAME_PREFIX + host, Props.empty());
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aStepItsAgentDoesNotAnswerIsSentAgainWithTheSameMigrationId() throws Exception {
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            List<String> vms = List.of("x-vm1", "x-vm2", "x-vm3");
            spawn(node, "x", standIn("x", vms, 1, false));
            Plan plan = new Plan("0.2.0", List.of("x"), 1, 0, 10.0, 300, 60_000);
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(plan, r)));
            Status done = awaitStatus(node, TIMEOUT, Status::complete, "the plan completes");
            assertEquals(0, done.failures(), done.toString());
            assertEquals(3, done.finished().size(), done.toString());
            assertEquals("complete", done.state());
            for (String vm : vms) {
                List<String> ids = received.stream().filter(r -> r.startsWith("x " + vm + " ")).map(r -> r.split(" ")[2]).toList();
                assertTrue(ids.size() >= 2, vm + ": the unanswered step must be sent again: " + ids);
                assertEquals(1, ids.stream().distinct().count(), vm + ": every repeat carries the same migration id: " + ids);
                assertEquals(ids.get(0), done.finished().get(vm).migrationId());
            }
            assertEquals(3, done.finished().values().stream().map(UpgradeCoordinator.StepRecord::migrationId).distinct().count());
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aHostWhoseAgentIsGoneIsPassedOverGivenUpAfterTheLimitAndItsUnknownStepIsReconciledWhenItReturns() throws Exception {
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            spawn(node, "a", standIn("a", List.of("a-vm1", "a-vm2"), 0, false));
            spawn(node, "b", standIn("b", List.of("b-vm1", "b-vm2", "b-vm3"), 0, true));
            spawn(node, "c", standIn("c", List.of("c-vm1", "c-vm2"), 0, false));
            // one host at a time: c can only run because b, gone, left its slot
            Plan plan = new Plan("0.2.0", List.of("a", "b", "c"), 1, 1, 10.0, 30_000, 1_500);
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(plan, r)));
            Status lost = awaitStatus(node, TIMEOUT, s -> s.unreachableHosts().contains("b") || s.givenUpHosts().contains("b"), "b is lost");
            assertTrue(lost.progress().hosts().get("b").unknown() >= 1, "b's step in flight is unknown: " + lost.progress());
            Status done = awaitStatus(node, TIMEOUT, Status::complete, "the plan completes without b");
            assertEquals(List.of("b"), done.givenUpHosts(), done.toString());
            assertEquals(1, done.failures(), "a given-up host counts as one failure: " + done);
            assertFalse(done.halted());
            assertEquals("complete", done.state());
            assertEquals(List.of("a", "c"), done.doneHosts().stream().sorted().toList());
            assertEquals(4, done.finished().size(), done.toString());
            // b's steps in flight stay open (unknown): its VMs are never granted a second migration
            Map<String, String> unknown = Map.copyOf(done.open());
            assertFalse(unknown.isEmpty(), done.toString());
            assertTrue(received.contains("b " + unknown.keySet().iterator().next() + " " + unknown.values().iterator().next())
                    || received.stream().anyMatch(r -> r.startsWith("b ")), "b got a step before it died: " + received);
            assertEquals("given-up", done.progress().hosts().get("b").state());
            assertEquals(unknown.size(), done.progress().hosts().get("b").unknown());
            assertEquals(0, done.progress().hosts().get("b").inFlight());
            for (Map.Entry<String, String> e : unknown.entrySet()) {
                assertEquals(e.getValue(), assertInstanceOf(StepGranted.class, ask(node, r -> new StartStep("b", e.getKey(), r)))
                        .migrationId(), "asking for the VM's step again returns the open one");
            }

            // the agent comes back: only its unknown steps are settled, under their ids; no new step of the given-up host
            received.clear();
            spawn(node, "b", standIn("b", List.of("b-vm1", "b-vm2", "b-vm3"), 0, false));
            Status settled = awaitStatus(node, TIMEOUT, s -> s.open().isEmpty(), "b's unknown steps are reconciled");
            unknown.forEach((vm, id) -> assertEquals(id, settled.finished().get(vm).migrationId()));
            Thread.sleep(500);
            assertEquals(unknown.entrySet().stream().map(e -> "b " + e.getKey() + " " + e.getValue()).sorted().toList(),
                    received.stream().sorted().toList(), "only the unknown steps are sent to the returned agent");
            assertTrue(ask(node, GetStatus::new) instanceof Status s && s.complete() && s.givenUpHosts().equals(List.of("b")));
        }
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void theUnknownStepsOfAGivenUpHostSurviveACoordinatorRestartAndALaterPlanSettlesThemUnderTheirIds() throws Exception {
        List<String> vms = List.of("b-vm1", "b-vm2", "b-vm3");
        Map<String, String> unknown;
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            spawn(node, "b", standIn("b", vms, 0, true));
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.2.0", List.of("b"), 1, 1, 10.0, 30_000,
                    1_000), r)));
            Status given = awaitStatus(node, TIMEOUT, Status::complete, "b given up");
            assertEquals(List.of("b"), given.givenUpHosts());
            unknown = Map.copyOf(given.open());
            assertFalse(unknown.isEmpty());
        }
        received.clear();
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            Status recovered = awaitStatus(node, TIMEOUT, s -> s.epoch() == 2, "the next incarnation");
            assertEquals(unknown, recovered.open(), "the unknown steps are journaled: still open after the restart");
            assertEquals(List.of("b"), recovered.givenUpHosts());
            assertTrue(recovered.complete());
            for (Map.Entry<String, String> e : unknown.entrySet()) {
                StepGranted again = assertInstanceOf(StepGranted.class, ask(node, r -> new StartStep("b", e.getKey(), r)));
                assertEquals(e.getValue(), again.migrationId(), "no second migration of " + e.getKey() + " across the restart");
                assertEquals(2, again.epoch());
            }
            // a later plan naming the host: its open steps go first, under their ids, then its other VMs
            spawn(node, "b", standIn("b", vms, 0, false));
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.3.0", List.of("b"), 1, 0, 10.0), r)));
            Status done = awaitStatus(node, TIMEOUT, Status::complete, "the later plan completes");
            assertEquals(List.of("b"), done.doneHosts(), done.toString());
            assertEquals(0, done.failures(), done.toString());
            assertEquals(3, done.finished().size());
            unknown.forEach((vm, id) -> {
                assertEquals(id, done.finished().get(vm).migrationId(), vm + ": settled under its old id");
                assertEquals(List.of("b " + vm + " " + id), received.stream().filter(r -> r.startsWith("b " + vm + " ")).toList(),
                        vm + ": only its old step was sent");
            });
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aHostWhoseAgentReturnsWithinTheLimitIsReconciledAndCompletes() throws Exception {
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            List<String> vms = List.of("b-vm1", "b-vm2", "b-vm3");
            spawn(node, "b", standIn("b", vms, 0, true));
            Plan plan = new Plan("0.2.0", List.of("b"), 1, 0, 10.0, 30_000, 60_000);
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(plan, r)));
            Status lost = awaitStatus(node, TIMEOUT, s -> s.unreachableHosts().contains("b"), "b is lost");
            assertEquals("unreachable", lost.progress().hosts().get("b").state());
            Map<String, String> unknown = Map.copyOf(lost.open());
            assertFalse(unknown.isEmpty());
            spawn(node, "b", standIn("b", vms, 0, false));
            Status done = awaitStatus(node, TIMEOUT, Status::complete, "the plan completes");
            assertEquals(0, done.failures(), done.toString());
            assertEquals(List.of("b"), done.doneHosts());
            assertEquals(List.of(), done.unreachableHosts());
            assertEquals(3, done.finished().size());
            unknown.forEach((vm, id) -> assertEquals(id, done.finished().get(vm).migrationId(),
                    vm + ": the unknown step is reconciled under its id, never a second migration"));
            assertEquals(3, done.progress().total().done());
            assertEquals(0, done.progress().total().left());
            assertNull(done.progress().etaS(), "no ETA once the plan ended");
        }
    }
}
