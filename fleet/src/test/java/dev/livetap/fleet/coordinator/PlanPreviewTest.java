package dev.livetap.fleet.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.HostAgent.AgentState;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.cluster.FleetTls;
import dev.livetap.fleet.cluster.OperatorClient;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.HostProgress;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Progress;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code fleet plan}'s preview: the schedule it estimates, the problems it names, and the agents' answers it reads. */
class PlanPreviewTest {
    private static final HostProgress NOTHING = new HostProgress(0, 0, 0, 0, 0, "waiting");

    @TempDir
    Path dir;

    private static Status coordinator(String state, Map<String, String> open) {
        return new Status(1, null, open, Map.of(), 0, false, List.of(), false, state, List.of(), List.of(),
                new Progress(Map.of(), NOTHING, false, null, null));
    }

    private static AgentState agent(String host, int vms, int k, Map<String, String> running) {
        return new AgentState(host, 1, running, k, IntStream.range(0, vms).mapToObj(i -> host + "-vm" + i).toList());
    }

    @Test
    void hostsStartInPlanOrderInTheSlotThatFreesFirst() {
        Plan plan = new Plan("0.3.0", List.of("a", "b", "c"), 2, 0, 300);
        PlanPreview p = PlanPreview.of(plan, Map.of("a", agent("a", 10, 2, Map.of()), "b", agent("b", 3, 1, Map.of()),
                "c", agent("c", 4, 4, Map.of())), coordinator("none", Map.of()), 2.0);
        assertTrue(p.ready(), p.problems().toString());
        assertEquals(17, p.vms());
        // a: 5 rounds of 2 s in slot 1 (0-10); b: 3 rounds in slot 2 (0-6); c starts when b's slot frees: 6-8
        assertEquals(List.of(new PlanPreview.Host("a", true, true, 10, 0, 0, 2, 1, 0, 10), new PlanPreview.Host("b", true, true, 3, 0, 0, 1, 2, 0, 6),
                new PlanPreview.Host("c", true, true, 4, 0, 0, 4, 2, 6, 8)), p.hosts());
        assertEquals(10, p.etaS());
    }

    @Test
    void vmsAlreadyOnTheTargetVersionAreCountedAsSkippedByTheAgentsRule() {
        Plan plan = new Plan("0.3.0", List.of("a", "b"), 2, 0, 300);
        // a: two VMs on 0.3.0, one on 0.2.0, one whose build the agent cannot tell (moved, as the agent would)
        AgentState a = new AgentState("a", 1, Map.of(), 1, List.of("a0", "a1", "a2", "a3"), List.of("0.2.0", "0.3.0"),
                Map.of("a0", "0.3.0", "a1", "0.2.0", "a2", "0.3.0"));
        AgentState b = new AgentState("b", 1, Map.of(), 1, List.of("b0"), List.of("0.2.0", "0.3.0"), Map.of("b0", "0.3.0"));
        PlanPreview p = PlanPreview.of(plan, Map.of("a", a, "b", b), coordinator("none", Map.of()), 1.0);
        assertEquals(5, p.vms());
        assertEquals(3, p.onTarget());
        assertEquals(2, p.moving());
        // the estimate counts the moves only: a 2 steps at K = 1, b none
        assertEquals(List.of(new PlanPreview.Host("a", true, true, 4, 2, 0, 1, 1, 0, 2), new PlanPreview.Host("b", true, true, 1, 1, 0, 1, 2, 0, 0)),
                p.hosts());
        assertEquals(2, p.hosts().get(0).moving());
        assertEquals(2, p.etaS());
        // current (a restart in place) skips nothing, as the agent
        PlanPreview current = PlanPreview.of(new Plan(VersionStep.CURRENT, List.of("a"), 1, 0, 300), Map.of("a", a),
                coordinator("none", Map.of()), 1.0);
        assertEquals(0, current.onTarget());
        assertEquals(4, current.moving());
        // an agent of an older build reports no VM builds: every VM counts as moving
        assertEquals(0, new AgentState("a", 1, Map.of(), 1, List.of("a0"), List.of(), null).alreadyOn("0.3.0"));
    }

    @Test
    void aHostWhoseAgentLacksTheTargetVersionIsShownAndNamedAsAProblem() {
        Plan plan = new Plan("0.1.9", List.of("old", "new"), 2, 0, 300);
        PlanPreview p = PlanPreview.of(plan, Map.of(
                "old", new AgentState("old", 1, Map.of(), 1, List.of("old-vm0"), List.of("0.1.9", "0.2.0")),
                "new", new AgentState("new", 1, Map.of(), 1, List.of("new-vm0", "new-vm1"), List.of("0.2.0"))),
                coordinator("none", Map.of()), 1.0);
        assertTrue(p.hosts().get(0).hasTarget());
        assertFalse(p.hosts().get(1).hasTarget());
        assertEquals(List.of("host new: its agent has no VMM build 0.1.9 (it has 0.2.0): each of its 2 step(s) would be refused"
                + " (livetap agent --vmm-build 0.1.9=LAUNCHER)"), p.problems());
        assertTrue(PlanPreview.of(new Plan(VersionStep.CURRENT, List.of("new"), 1, 0, 300), Map.of("new",
                new AgentState("new", 1, Map.of(), 1, List.of("new-vm0"), List.of("0.2.0"))), coordinator("none", Map.of()), 1.0)
                .hosts().get(0).hasTarget(), "current is the agent's own build");
    }

    @Test
    void namesEveryReasonStartWouldBeRefusedOrThePlanWouldStall() {
        Plan plan = new Plan("0.3.0", List.of("a", "gone", "a"), 1, 0, 300, 30_000, 20_000);
        PlanPreview p = PlanPreview.of(plan, Map.of("a", agent("a", 2, 1, Map.of("a-vm1", "m-7"))),
                coordinator("paused", Map.of("x-vm", "m-1")), 1.0);
        assertFalse(p.ready());
        assertEquals(List.of("a plan is paused (1 step(s) open): fleet start is refused until it completes, halts or is aborted "
                        + "(fleet abort)",
                "host a is listed twice",
                "host a: 1 VM(s) in a step now [a-vm1]; the plan's steps for them wait until those end",
                "host gone: no agent answered; the plan would wait for one and give the host up after 20 s (one failure)",
                "host a: 1 VM(s) in a step now [a-vm1]; the plan's steps for them wait until those end",
                "1 host(s) without an agent exceed --max-failures 0: the plan would halt"), p.problems());
        // one slot: a 0-2, gone holds the slot for its host-down limit 2-22, a again 22-24
        assertEquals(new PlanPreview.Host("gone", false, false, -1, 0, 0, 0, 1, 2, 22), p.hosts().get(1));
        assertEquals(24, p.etaS());
        assertThrows(IllegalArgumentException.class, () -> PlanPreview.of(plan, Map.of(), coordinator("none", Map.of()), 0));
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void anOperatorMemberReadsTheAgentsStateThroughTheReceptionist() throws Exception {
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> new Thread(r, "preview-test-migration"));
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), Duration.ofSeconds(60))) {
            HostAgent.MigrationPort port = new HostAgent.MigrationPort() {
                @Override
                public HostAgent.StepDone migrate(String vm, String id) {
                    throw new AssertionError("a preview migrates nothing: " + vm);
                }

                @Override
                public List<String> vms() {
                    return List.of("h-vm1", "h-vm2", "h-vm3");
                }

                @Override
                public Map<String, String> vmBuilds() {
                    return Map.of("h-vm2", "0.3.0");
                }
            };
            node.system().systemActorOf(HostAgent.create("h", StepLedger.open(dir.resolve("h.ledger")),
                    new FreezeBudget(FreezeBudget.Settings.fixed(2)), Duration.ofSeconds(30), port, executor),
                    HostAgent.ACTOR_NAME_PREFIX + "h", Props.empty());
            String seed = org.apache.pekko.cluster.typed.Cluster.get(node.system()).selfMember().address().toString();
            try (OperatorClient operator = OperatorClient.join(List.of(seed), FleetTls.OFF, Duration.ofSeconds(30))) {
                Map<String, AgentState> agents = operator.agents();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (!agents.containsKey("h") && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                    agents = operator.agents();
                }
                assertEquals(List.of("h-vm1", "h-vm2", "h-vm3"), agents.get("h").vms(), agents.toString());
                assertEquals(2, agents.get("h").budgetLimit());
                PlanPreview p = PlanPreview.of(new Plan("0.3.0", List.of("h", "nobody"), 1, 1, 300, 0, 60_000), agents,
                        operator.status(), 1.0);
                assertEquals("none", p.coordinatorState());
                assertEquals(List.of("host nobody: no agent answered; the plan would wait for one and give the host up after "
                        + "60 s (one failure)"), p.problems(), "one host without an agent is within --max-failures 1");
                assertEquals(Map.of("h-vm2", "0.3.0"), agents.get("h").vmBuilds(), "the VMs' builds travel in the agent's state");
                assertEquals(new PlanPreview.Host("h", true, true, 3, 1, 0, 2, 1, 0, 1), p.hosts().get(0));
            }
        } finally {
            executor.shutdownNow();
        }
    }
}
