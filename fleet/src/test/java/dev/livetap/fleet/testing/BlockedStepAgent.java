package dev.livetap.fleet.testing;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.Props;

/**
 * A host agent {@code h1} with one VM ({@code vm1}) on a node, whose step waits until {@code release} (at most
 * 120 s) and then completes: a plan run by it keeps a step open for as long as a test needs.
 */
public final class BlockedStepAgent {
    private BlockedStepAgent() {
    }

    /** Starts the agent on {@code node}; its ledger goes to {@code dir/h1.ledger}, its steps run on {@code executor}. */
    public static void start(FleetNode node, Path dir, CountDownLatch release, ExecutorService executor) throws Exception {
        HostAgent.MigrationPort port = new HostAgent.MigrationPort() {
            @Override
            public HostAgent.StepDone migrate(String vm, String id) throws Exception {
                release.await(120, TimeUnit.SECONDS);
                return new HostAgent.StepDone(vm, id, "completed", 1.0);
            }

            @Override
            public List<String> vms() {
                return List.of("vm1");
            }
        };
        node.system().systemActorOf(HostAgent.create("h1", StepLedger.open(dir.resolve("h1.ledger")),
                new FreezeBudget(FreezeBudget.Settings.fixed(1)), Duration.ofSeconds(60), port, executor),
                HostAgent.ACTOR_NAME_PREFIX + "h1", Props.empty());
    }
}
