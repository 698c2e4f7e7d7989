package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static dev.livetap.fleet.testing.CoordinatorAsk.awaitComplete;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator drives agents found through the Receptionist: every VM of every host gets exactly
 * one step, at most maxParallelHosts hosts at once, and a plan halts after more failures than it
 * allows (no host after the halt gets a step). The agents' port counts instead of migrating.
 */
class PlanDriverTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    /** host → VMs migrated, in order; the host of each migration as it ran. */
    private final Map<String, List<String>> migrated = new ConcurrentHashMap<>();
    private final List<String> hostsRunning = new CopyOnWriteArrayList<>();
    private final AtomicInteger mostHostsAtOnce = new AtomicInteger();
    private final Map<String, AtomicInteger> inside = new ConcurrentHashMap<>();
    private volatile String failVm = "";
    /** VMs whose port answers that they run the target build already. */
    private volatile List<String> onTarget = List.of();
    /** The target version each migration was asked for. */
    private final List<String> versions = new CopyOnWriteArrayList<>();

    private HostAgent.MigrationPort port(String host, List<String> vms) {
        return new HostAgent.MigrationPort() {
            @Override
            public HostAgent.StepDone migrate(String vm, String id) throws Exception {
                int mine = inside.computeIfAbsent(host, h -> new AtomicInteger()).incrementAndGet();
                if (mine == 1) {
                    hostsRunning.add(host);
                }
                mostHostsAtOnce.accumulateAndGet((int) inside.values().stream().filter(a -> a.get() > 0).count(), Math::max);
                try {
                    // with a failure injected, it answers first: steps that succeed before the failure's answer
                    // would rightly free slots for more steps of that host (the bound below assumes they do not)
                    Thread.sleep(failVm.isEmpty() ? 30 : vm.equals(failVm) ? 0 : 300);
                    migrated.computeIfAbsent(host, h -> new CopyOnWriteArrayList<>()).add(vm);
                    return new HostAgent.StepDone(vm, id, vm.equals(failVm) ? "failed: injected" : "completed", 1.0);
                } finally {
                    inside.get(host).decrementAndGet();
                }
            }

            @Override
            public HostAgent.StepDone migrate(String vm, String id, String targetVersion) throws Exception {
                versions.add(targetVersion);
                if (onTarget.contains(vm)) {
                    return new HostAgent.StepDone(vm, id, HostAgent.StepDone.SKIPPED_PREFIX + targetVersion, -1);
                }
                return migrate(vm, id);
            }

            @Override
            public List<String> vms() {
                return vms;
            }
        };
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void aPlanReachesEveryVmOfEveryHostOnceWithinMaxParallelHostsAndHaltsAfterMaxFailures() throws Exception {
        ExecutorService executor = Executors.newFixedThreadPool(8, r -> new Thread(r, "driver-test-migration"));
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            for (String host : List.of("a", "b", "c")) {
                List<String> vms = List.of(host + "-vm1", host + "-vm2", host + "-vm3", host + "-vm4", host + "-vm5");
                node.system().systemActorOf(HostAgent.create(host, StepLedger.open(dir.resolve(host + ".ledger")),
                        new FreezeBudget(FreezeBudget.Settings.fixed(2)), Duration.ofSeconds(10), port(host, vms), executor),
                        HostAgent.ACTOR_NAME_PREFIX + host, Props.empty());
            }
            Plan plan = new Plan("0.2.0", List.of("a", "b", "c"), 2, 0, 10.0);
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(plan, r)));
            Status done = awaitComplete(node, TIMEOUT);
            assertFalse(done.halted());
            assertEquals(List.of("a", "b", "c"), done.doneHosts().stream().sorted().toList());
            assertEquals(15, done.finished().size(), "every VM of every host has its step recorded");
            assertTrue(done.finished().values().stream().allMatch(UpgradeCoordinator.StepRecord::completed));
            for (String host : List.of("a", "b", "c")) {
                assertEquals(5, migrated.get(host).size(), host + ": each VM migrated exactly once: " + migrated.get(host));
                assertEquals(5, migrated.get(host).stream().distinct().count());
            }
            assertTrue(mostHostsAtOnce.get() <= 2, "at most maxParallelHosts hosts migrating at once: " + mostHostsAtOnce.get());
            assertEquals(List.of("0.2.0"), versions.stream().distinct().toList(), "every step carries the plan's target version");
            assertEquals(15, versions.size());

            // a second plan, one host at a time, no failure allowed: the first failure halts it
            migrated.clear();
            versions.clear();
            failVm = "a-vm1";
            Plan strict = new Plan("0.3.0", List.of("a", "b"), 1, 0, 10.0);
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(strict, r)));
            Status halted = awaitComplete(node, TIMEOUT);
            assertTrue(halted.halted(), "one failure with maxFailures 0 must halt the plan");
            assertEquals(1, halted.failures());
            assertFalse(halted.finished().get("a-vm1").completed());
            assertTrue(migrated.get("b") == null, "no VM of a host after the halt is migrated: " + migrated);
            assertEquals(List.of("0.3.0"), versions.stream().distinct().toList());
            assertTrue(migrated.get("a").size() <= PlanDriver.Settings.DEFAULT.stepsInFlightPerHost(),
                    "no step of the halted host is opened after the failure's answer: " + migrated.get("a"));

            // VMs already on the target: skipped, neither failed (no failure allowed, no halt) nor counted as moved
            migrated.clear();
            failVm = "";
            onTarget = List.of("c-vm1", "c-vm2", "c-vm3");
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.3.0", List.of("c"), 1, 0, 10.0), r)));
            Status skipping = awaitComplete(node, TIMEOUT);
            assertFalse(skipping.halted(), "a skipped step is not a failure");
            assertEquals(0, skipping.failures());
            assertEquals(List.of("c-vm4", "c-vm5"), migrated.get("c").stream().sorted().toList(), "only the others moved");
            assertEquals("SKIPPED already on 0.3.0", skipping.finished().get("c-vm1").detail(), "journaled as skipped");
            assertTrue(skipping.finished().get("c-vm1").skipped());
            UpgradeCoordinator.HostProgress total = skipping.progress().total();
            assertEquals(3, total.skipped(), total.toString());
            assertEquals(2, total.done(), "done counts the VMs moved: " + total);
            assertEquals(0, total.failed());
            assertEquals(0, total.left(), total.toString());
        } finally {
            executor.shutdownNow();
        }
    }
}
