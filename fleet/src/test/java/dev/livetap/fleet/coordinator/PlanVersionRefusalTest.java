package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Rejected;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator refuses a plan more than one version step from its build, and journals nothing
 * for it. Long (a cluster node with its journal: 36 s on the loaded 2-core machine); the rule
 * itself is {@link VersionStepTest}'s, in CI.
 */
@Tag("long")
class PlanVersionRefusalTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aPlanTwoVersionsAwayIsRefusedWithThePolicysTextAndOneStepIsAccepted() throws Exception {
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            Rejected refused = assertInstanceOf(Rejected.class,
                    ask(node, r -> new SubmitPlan(new Plan("0.4.0", List.of("host-a"), 1, 0, 10.0), r)));
            assertEquals(VersionStep.refusal("0.4.0", VersionStep.thisBuild()).orElseThrow(), refused.reason(),
                    "the refusal says why, in the policy's words");
            assertEquals(null, assertInstanceOf(Status.class, ask(node, GetStatus::new)).plan(), "nothing was journaled");
            Plan next = new Plan("0.3.0", List.of("host-a"), 1, 0, 10.0);
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(next, r)), "one step is within the policy");
        }
    }
}
