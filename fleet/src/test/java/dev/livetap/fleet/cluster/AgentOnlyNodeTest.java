package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.testing.CoordinatorAsk;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node without the coordinator role joins the fleet, reaches the singleton through its proxy
 * and never opens its configured journal (an H2 file that must not appear).
 */
class AgentOnlyNodeTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void anAgentOnlyNodeReachesTheCoordinatorAndNeverOpensTheJournal() throws Exception {
        try (FleetNode coordinator = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(),
                FleetConfig.h2File(dir.resolve("journal")), List.of(FleetNode.COORDINATOR_ROLE)), TIMEOUT)) {
            String seed = Cluster.get(coordinator.system()).selfMember().address().toString();
            Path agentJournal = dir.resolve("agent-journal");
            try (FleetNode agent = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(seed), FleetConfig.h2File(agentJournal),
                    List.of(FleetNode.AGENT_ROLE)), TIMEOUT)) {
                UpgradeCoordinator.Status s = assertInstanceOf(UpgradeCoordinator.Status.class,
                        CoordinatorAsk.ask(agent, UpgradeCoordinator.GetStatus::new));
                assertEquals(1, s.epoch(), "the singleton runs on the coordinator node, its first incarnation");
                assertTrue(Files.exists(dir.resolve("journal.mv.db")), "the coordinator's journal exists");
                assertFalse(Files.exists(dir.resolve("agent-journal.mv.db")), "an agent-only node must not open a journal");
            }
        }
    }
}
