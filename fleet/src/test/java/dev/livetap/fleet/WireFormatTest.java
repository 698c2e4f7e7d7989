package dev.livetap.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every message that crosses the cluster or enters the journal goes through the fleet's
 * serializer (Jackson CBOR, never Java serialization) and comes back equal, actor references and
 * nested replies included: what a multi-JVM cluster and a recovery rely on.
 */
class WireFormatTest {
    @TempDir
    static Path dir;

    private static ActorTestKit kit;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create(FleetConfig.SYSTEM_NAME, FleetConfig.singleNode(dir.resolve("journal")).toConfig());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    @Test
    void everyFleetMessageRoundTripsThroughJacksonCbor() {
        TestProbe<UpgradeCoordinator.Reply> replies = kit.createTestProbe();
        TestProbe<HostAgent.StepReply> stepReplies = kit.createTestProbe();
        Plan plan = new Plan("0.2.0", List.of("host-a", "host-b"), 2, 3, 10.0);
        UpgradeCoordinator.StepGranted granted = new UpgradeCoordinator.StepGranted("host-a", "vm-1", "m-1-1", 1);
        List<Object> messages = List.of(
                plan,
                new UpgradeCoordinator.SubmitPlan(plan, replies.getRef()),
                new UpgradeCoordinator.StartStep("host-a", "vm-1", replies.getRef()),
                new UpgradeCoordinator.StartSteps("host-a", List.of("vm-1", "vm-2"), replies.getRef()),
                new UpgradeCoordinator.FinishSteps(List.of(new UpgradeCoordinator.Finish("vm-1", "m-1-1", true, "ok")),
                        replies.getRef()),
                new UpgradeCoordinator.RecordSteps(List.of(new UpgradeCoordinator.Finish("vm-1", "m-1-1", false, "failed: x")),
                        List.of(new UpgradeCoordinator.Start("host-a", "vm-3"), new UpgradeCoordinator.Start("host-b", "vm-4")),
                        List.of("host-c"), replies.getRef()),
                new UpgradeCoordinator.GetGroupCommits(replies.getRef()),
                new UpgradeCoordinator.GroupCommits(12, 190, 33),
                granted,
                new UpgradeCoordinator.Batch(List.of(granted, new UpgradeCoordinator.Rejected("no plan"),
                        new UpgradeCoordinator.StepFinished("vm-2", "m-1-2", false))),
                new UpgradeCoordinator.Status(2, plan, Map.of("vm-2", "m-1-2"), Map.of("vm-1",
                        new UpgradeCoordinator.StepRecord("host-a", "m-1-1", true, "ok")), 0, false, List.of("host-b"), false,
                        "running", List.of("host-c"), List.of(), new UpgradeCoordinator.Progress(Map.of("host-a",
                                new UpgradeCoordinator.HostProgress(1, 0, 1, 0, 2, "upgrading")),
                                new UpgradeCoordinator.HostProgress(1, 0, 1, 0, 2, "running"), true, 2.5, null)),
                new Plan("0.2.0", List.of("host-a"), 1, 0, 10.0, 1500, 9000),
                new UpgradeCoordinator.ControlPlan(UpgradeCoordinator.Action.PAUSE, replies.getRef()),
                new UpgradeCoordinator.Controlled("paused"),
                new UpgradeCoordinator.PlanControlled(UpgradeCoordinator.Action.ABORT),
                new UpgradeCoordinator.HostUnreachable("host-a"),
                new UpgradeCoordinator.HostReturned("host-a"),
                new UpgradeCoordinator.HostGivenUp("host-a"),
                new UpgradeCoordinator.HostInventoried("host-a", 7),
                new UpgradeCoordinator.HostLost("host-a"),
                new UpgradeCoordinator.Inventory("host-a", 7),
                new HostAgent.StepRunning("vm-1", "m-1-1"),
                new UpgradeCoordinator.HostDone("host-a"),
                new UpgradeCoordinator.HostFinished("host-a"),
                new HostAgent.AgentState("host-a", 2, Map.of("vm-1", "m-2-1"), 4, List.of("vm-1", "vm-2"), List.of("0.1.9", "0.2.0")),
                new UpgradeCoordinator.EpochBegan(3),
                new UpgradeCoordinator.PlanSubmitted(plan),
                new UpgradeCoordinator.StepStarted("host-a", "vm-1", "m-1-1"),
                new UpgradeCoordinator.StepClosed("vm-1", "m-1-1", true, "ok"),
                new HostAgent.PerformStep("host-a", "vm-1", "m-1-1", 1, "0.1.9", stepReplies.getRef()),
                new HostAgent.StepDone("vm-1", "m-1-1", "completed", 1.5),
                new HostAgent.StepRefused("vm-1", "m-1-1", "fenced"));
        Serialization serialization = SerializationExtension.get(Adapter.toClassic(kit.system()));
        for (Object m : messages) {
            Serializer serializer = serialization.findSerializerFor(m);
            assertTrue(serializer.getClass().getName().contains("Jackson"), m.getClass().getSimpleName()
                    + " must use the Jackson serializer, not " + serializer.getClass().getName());
            byte[] bytes = serialization.serialize(m).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, m)).get();
            assertEquals(m, back, m.getClass().getSimpleName() + " must come back equal");
        }
    }
}
