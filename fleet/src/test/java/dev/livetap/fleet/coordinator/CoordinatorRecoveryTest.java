package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.FinishStep;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Rejected;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StartStep;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepFinished;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepGranted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import dev.livetap.fleet.journal.CoordinatorJournal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spike: a one-node cluster runs the coordinator as a Cluster Singleton, journaled to an H2
 * file through pekko-persistence-jdbc (tables created by the node); a second node on the same file
 * recovers the plan and the steps, and begins the next epoch.
 */
class CoordinatorRecoveryTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void aCoordinatorRestartedOnTheSameJournalRecoversPlanAndStepsAndBeginsTheNextEpoch() throws Exception {
        Path db = dir.resolve("journal");
        Plan plan = new Plan("0.2.0", List.of("host-a"), 1, 0, 10.0);
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(db), TIMEOUT)) {
            assertEquals(1, assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(plan, r))).epoch(),
                    "the first incarnation runs epoch 1");
            StepGranted first = assertInstanceOf(StepGranted.class, ask(node, r -> new StartStep("host-a", "vm-1", r)));
            assertEquals("m-1-1", first.migrationId());
            assertEquals(first, ask(node, r -> new StartStep("host-a", "vm-1", r)),
                    "a retried start must return the open step, never a second migration of the VM");
            assertInstanceOf(StepFinished.class, ask(node, r -> new FinishStep("vm-1", "m-1-1", true, "downtime 1.2 ms", r)));
            assertEquals("m-1-2", assertInstanceOf(StepGranted.class, ask(node, r -> new StartStep("host-a", "vm-2", r)))
                    .migrationId(), "vm-2's step stays open across the restart");
        }

        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(db), TIMEOUT)) {
            Status status = assertInstanceOf(Status.class, ask(node, GetStatus::new));
            assertEquals(2, status.epoch(), "a restarted coordinator must begin a new epoch (the fencing token)");
            assertEquals(plan, status.plan());
            assertEquals("m-1-1", status.finished().get("vm-1").migrationId());
            assertTrue(status.finished().get("vm-1").completed());
            assertEquals(java.util.Map.of("vm-2", "m-1-2"), status.open());
            StepGranted again = assertInstanceOf(StepGranted.class, ask(node, r -> new StartStep("host-a", "vm-2", r)));
            assertEquals("m-1-2", again.migrationId(), "the open step survives the restart with its migration id");
            assertEquals(2, again.epoch(), "and is handed out under the current epoch");
            assertInstanceOf(StepFinished.class, ask(node, r -> new FinishStep("vm-1", "m-1-1", true, "repeated", r)),
                    "finishing a finished step again must give the same answer");
            assertInstanceOf(Rejected.class, ask(node, r -> new StartStep("host-b", "vm-9", r)));
            assertInstanceOf(Rejected.class, ask(node, r -> new FinishStep("vm-2", "m-9-9", true, "", r)),
                    "a finish with a migration id the coordinator never issued must be refused");
        }

        // an independent record: the journal's rows, read with plain JDBC
        List<String> rows = CoordinatorJournal.rows(FleetConfig.h2File(db), "livetap", "").stream()
                .map(r -> r.sequenceNumber() + ":" + r.eventName()).toList();
        assertEquals(List.of("1:EpochBegan", "2:PlanSubmitted", "3:StepStarted", "4:StepClosed", "5:StepStarted",
                "6:EpochBegan"), rows, "the journal must hold exactly the events of both incarnations");
    }
}
