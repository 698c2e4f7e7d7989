package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static dev.livetap.fleet.testing.CoordinatorAsk.awaitStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Action;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.ControlPlan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Controlled;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Rejected;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StartStep;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's pause, resume and abort with a real host agent whose migrations wait for the test's
 * go: steps in flight finish, no new step starts, and the journaled control survives a coordinator
 * restart on the same journal (a fail-over's new incarnation).
 */
class PlanControlTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final List<String> VMS = IntStream.rangeClosed(1, 8).mapToObj(i -> "p-vm" + i).toList();

    @TempDir
    Path dir;

    /** Migrations started, by VM; each waits for a permit of {@link #go}. */
    private final Queue<String> migrated = new ConcurrentLinkedQueue<>();
    private final Semaphore go = new Semaphore(0);
    private final ExecutorService executor = Executors.newFixedThreadPool(8, r -> new Thread(r, "control-test-migration"));

    @AfterEach
    void stop() {
        go.release(1000);
        executor.shutdownNow();
    }

    private FleetNode nodeWithAgent() throws Exception {
        FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT);
        HostAgent.MigrationPort port = new HostAgent.MigrationPort() {
            @Override
            public HostAgent.StepDone migrate(String vm, String id) throws Exception {
                migrated.add(vm);
                if (!go.tryAcquire(30, TimeUnit.SECONDS)) {
                    return new HostAgent.StepDone(vm, id, "failed: no go from the test", -1);
                }
                return new HostAgent.StepDone(vm, id, "completed", 1.0);
            }

            @Override
            public List<String> vms() {
                return VMS;
            }
        };
        node.system().systemActorOf(HostAgent.create("p", StepLedger.open(dir.resolve("p.ledger")),
                new FreezeBudget(FreezeBudget.Settings.fixed(8)), Duration.ofSeconds(30), port, executor),
                HostAgent.ACTOR_NAME_PREFIX + "p", Props.empty());
        return node;
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void pauseLetsStepsInFlightFinishStartsNoneSurvivesARestartAndResumeCompletesThePlan() throws Exception {
        int inFlight;
        try (FleetNode node = nodeWithAgent()) {
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.2.0", List.of("p"), 1, 0, 10.0), r)));
            awaitStatus(node, TIMEOUT, s -> !s.open().isEmpty() && s.open().size() == migrated.size(), "steps in flight");
            assertEquals(new Controlled("paused"), ask(node, r -> new ControlPlan(Action.PAUSE, r)));
            assertEquals(new Controlled("paused"), ask(node, r -> new ControlPlan(Action.PAUSE, r)), "a repeated pause is harmless");
            inFlight = assertInstanceOf(Status.class, ask(node, GetStatus::new)).open().size();
            assertInstanceOf(Rejected.class, ask(node, r -> new StartStep("p", "p-vm8", r)), "no new step while paused");
            go.release(1000);
            Status paused = awaitStatus(node, TIMEOUT, s -> s.open().isEmpty() && s.finished().size() == inFlight, "steps in flight finished");
            Thread.sleep(500);
            assertEquals(inFlight, migrated.size(), "no new step starts while paused: " + migrated);
            assertEquals("paused", paused.state());
            assertFalse(paused.complete());
            assertEquals(inFlight, paused.progress().total().done());
            assertEquals(VMS.size() - inFlight, paused.progress().total().left(), paused.progress().toString());
            assertEquals(null, paused.progress().etaS(), "no ETA while paused");
        }
        try (FleetNode node = nodeWithAgent()) {
            Status recovered = awaitStatus(node, TIMEOUT, s -> s.epoch() == 2, "the next incarnation");
            assertEquals("paused", recovered.state(), "the pause is journaled and survives a restart: " + recovered);
            Thread.sleep(1000);
            assertEquals(inFlight, migrated.size(), "the new incarnation starts no step while paused");
            assertEquals(new Controlled("running"), ask(node, r -> new ControlPlan(Action.RESUME, r)));
            Status done = awaitStatus(node, TIMEOUT, Status::complete, "the resumed plan completes");
            assertEquals("complete", done.state());
            assertEquals(VMS.size(), done.finished().size());
            assertEquals(VMS.size(), migrated.size(), "every VM migrated exactly once: " + migrated);
            assertEquals(VMS.size(), migrated.stream().distinct().count());
            assertNotNull(done.progress().stepsPerS(), "a rate after several steps");
            assertInstanceOf(Rejected.class, ask(node, r -> new ControlPlan(Action.PAUSE, r)), "nothing to pause once complete");
        }
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void abortEndsThePlanAbortedOnceStepsInFlightEndedAndSurvivesARestart() throws Exception {
        int inFlight;
        try (FleetNode node = nodeWithAgent()) {
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.2.0", List.of("p"), 1, 0, 10.0), r)));
            awaitStatus(node, TIMEOUT, s -> !s.open().isEmpty() && s.open().size() == migrated.size(), "steps in flight");
            assertEquals(new Controlled("aborting"), ask(node, r -> new ControlPlan(Action.ABORT, r)));
            Status aborting = assertInstanceOf(Status.class, ask(node, GetStatus::new));
            inFlight = aborting.open().size();
            assertEquals("aborting", aborting.state());
            assertFalse(aborting.complete(), "an aborted plan waits for its steps in flight");
            assertInstanceOf(Rejected.class, ask(node, r -> new ControlPlan(Action.RESUME, r)), "an aborted plan does not resume");
            go.release(1000);
            Status aborted = awaitStatus(node, TIMEOUT, Status::complete, "the aborted plan ends");
            assertEquals("aborted", aborted.state());
            assertEquals(inFlight, aborted.finished().size());
            assertTrue(aborted.finished().values().stream().allMatch(UpgradeCoordinator.StepRecord::completed));
            Thread.sleep(500);
            assertEquals(inFlight, migrated.size(), "no step starts after the abort");
            assertEquals(VMS.size() - inFlight, aborted.progress().total().left());
        }
        try (FleetNode node = nodeWithAgent()) {
            Status recovered = awaitStatus(node, TIMEOUT, s -> s.epoch() == 2, "the next incarnation");
            assertEquals("aborted", recovered.state(), recovered.toString());
            Thread.sleep(500);
            assertEquals(inFlight, migrated.size(), "the new incarnation does not take the aborted plan up again");
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.3.0", List.of("p"), 1, 0, 10.0), r)),
                    "a new plan may follow an aborted one");
            Status next = awaitStatus(node, TIMEOUT, Status::complete, "the next plan completes");
            assertEquals("complete", next.state());
            assertEquals(VMS.size(), next.finished().size());
        }
    }
}
