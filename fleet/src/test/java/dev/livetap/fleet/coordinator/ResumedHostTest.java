package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static dev.livetap.fleet.testing.CoordinatorAsk.awaitComplete;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.bench.StubAgent;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A new incarnation resumes a host that has more VMs than steps open: the host's open steps are sent
 * before its agent is asked for its VMs, and a stand-in agent answers them first. The host must not
 * be ended by those answers (it once was: the plan completed with its other VMs not upgraded).
 */
class ResumedHostTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final List<String> VMS = List.of("r-vm1", "r-vm2", "r-vm3", "r-vm4", "r-vm5", "r-vm6", "r-vm7");

    @TempDir
    Path dir;

    private final Queue<String> performed = new ConcurrentLinkedQueue<>();

    /** The host's agent: silent (steps stay open) or answering every step at once. */
    private Behavior<HostAgent.Command> standIn(boolean answers) {
        return StubAgent.create("r", VMS, p -> {
            if (answers) {
                performed.add(p.vm() + " " + p.migrationId());
                StubAgent.complete(p, 1.0);
            }
            return true;
        });
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aResumedHostIsEndedOnlyAfterAllItsVmsNotWhenItsOpenStepsAreAnswered() throws Exception {
        Path journal = dir.resolve("journal");
        int open;
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(journal), TIMEOUT)) {
            node.system().systemActorOf(standIn(false), HostAgent.ACTOR_NAME_PREFIX + "r", Props.empty());
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.2.0", List.of("r"), 1, 0, 10.0), r)));
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            Status s;
            do {
                Thread.sleep(20);
                s = assertInstanceOf(Status.class, ask(node, GetStatus::new));
            } while (s.open().size() < PlanDriver.Settings.DEFAULT.stepsInFlightPerHost() && System.nanoTime() < deadline);
            open = s.open().size();
            assertEquals(PlanDriver.Settings.DEFAULT.stepsInFlightPerHost(), open, "the driver opens its window of steps: " + s);
        }
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(journal), TIMEOUT)) {
            node.system().systemActorOf(standIn(true), HostAgent.ACTOR_NAME_PREFIX + "r", Props.empty());
            Status s = awaitComplete(node, TIMEOUT);
            assertFalse(s.halted(), s.toString());
            assertEquals(2, s.epoch());
            assertEquals(VMS.size(), s.finished().size(), "every VM of the resumed host is upgraded, not only the "
                    + open + " whose steps were open: " + s.finished().keySet());
            assertEquals(VMS.size(), performed.stream().map(p -> p.split(" ")[0]).distinct().count(), performed.toString());
        }
    }
}
