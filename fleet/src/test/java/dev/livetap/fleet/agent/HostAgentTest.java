package dev.livetap.fleet.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent.AgentState;
import dev.livetap.fleet.agent.HostAgent.PerformStep;
import dev.livetap.fleet.agent.HostAgent.StepDone;
import dev.livetap.fleet.agent.HostAgent.StepRefused;
import dev.livetap.fleet.agent.HostAgent.StepReply;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.testbed.orchestration.LocalMigration;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's contracts with a migration port that counts calls (the port stands in for
 * LocalMigration so that the fence, the ledger and the budget are what is tested; the real port
 * is the bench's driver).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostAgentTest {
    private static final ActorTestKit KIT = ActorTestKit.create();
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private ExecutorService executor;
    private final ConcurrentHashMap<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    private final AtomicInteger inside = new AtomicInteger();
    private final AtomicInteger mostInside = new AtomicInteger();
    private volatile CountDownLatch gate = new CountDownLatch(0);

    @BeforeEach
    void start() {
        executor = Executors.newFixedThreadPool(4, r -> new Thread(r, "agent-test-migration"));
    }

    @AfterEach
    void stop() {
        gate.countDown();
        executor.shutdownNow();
    }

    @AfterAll
    static void shutdown() {
        KIT.shutdownTestKit();
    }

    private StepDone migrate(String vm, String id) throws InterruptedException {
        calls.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
        mostInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
        try {
            assertTrue(gate.await(20, TimeUnit.SECONDS));
            return new StepDone(vm, id, "completed", 1.5);
        } finally {
            inside.decrementAndGet();
        }
    }

    private ActorRef<HostAgent.Command> agent(String name, int k) throws Exception {
        StepLedger ledger = StepLedger.open(dir.resolve("agent/steps.log"));
        return KIT.spawn(HostAgent.create("host-a", ledger, new FreezeBudget(FreezeBudget.Settings.fixed(k)), WAIT,
                this::migrate, executor), name);
    }

    @Test
    void aStepOfAnOlderCoordinatorEpochIsRefusedAlsoAfterTheAgentRestarts() throws Exception {
        ActorRef<HostAgent.Command> a = agent("fence-1", 4);
        TestProbe<StepReply> probe = KIT.createTestProbe();
        a.tell(new PerformStep("host-a", "vm-1", "m-2-1", 2, probe.getRef()));
        assertInstanceOf(StepDone.class, probe.receiveMessage(WAIT));
        a.tell(new PerformStep("host-a", "vm-2", "m-1-7", 1, probe.getRef()));
        StepRefused refused = assertInstanceOf(StepRefused.class, probe.receiveMessage(WAIT));
        assertTrue(refused.reason().startsWith("fenced"), refused.reason());
        assertEquals(null, calls.get("m-1-7"), "a fenced step must not reach the VMMs");
        KIT.stop(a, WAIT);

        ActorRef<HostAgent.Command> again = agent("fence-2", 4);
        again.tell(new PerformStep("host-a", "vm-2", "m-1-8", 1, probe.getRef()));
        assertInstanceOf(StepRefused.class, probe.receiveMessage(WAIT), "the accepted epoch survives an agent restart");
        again.tell(new PerformStep("host-a", "vm-1", "m-2-1", 2, probe.getRef()));
        assertEquals(new StepDone("vm-1", "m-2-1", "completed", -1), probe.receiveMessage(WAIT),
                "a repeated step after a restart gets the recorded outcome");
        assertEquals(1, calls.get("m-2-1").get(), "and is not migrated again");
        TestProbe<AgentState> state = KIT.createTestProbe();
        again.tell(new HostAgent.GetState(state.getRef()));
        assertEquals(2, state.receiveMessage(WAIT).highestEpoch());
    }

    @Test
    void aRepeatedStepWhileItRunsIsOneMigrationAndAnotherIdForTheSameVmIsRefused() throws Exception {
        gate = new CountDownLatch(1);
        ActorRef<HostAgent.Command> a = agent("idem", 4);
        TestProbe<StepReply> first = KIT.createTestProbe();
        TestProbe<StepReply> second = KIT.createTestProbe();
        TestProbe<StepReply> other = KIT.createTestProbe();
        a.tell(new PerformStep("host-a", "vm-1", "m-1-1", 1, first.getRef()));
        a.tell(new PerformStep("host-a", "vm-1", "m-1-1", 1, second.getRef()));
        a.tell(new PerformStep("host-a", "vm-1", "m-1-2", 1, other.getRef()));
        assertEquals(new HostAgent.StepRunning("vm-1", "m-1-1"), second.receiveMessage(WAIT),
                "a repeat of a running step is told it runs (the coordinator's step timeout)");
        assertTrue(assertInstanceOf(StepRefused.class, other.receiveMessage(WAIT)).reason().contains("m-1-1"),
                "a VM is never in two migrations at once");
        a.tell(new PerformStep("host-a", "vm-1", "m-1-1", 1, first.getRef()));
        assertEquals(new HostAgent.StepRunning("vm-1", "m-1-1"), first.receiveMessage(WAIT));
        gate.countDown();
        assertEquals(new StepDone("vm-1", "m-1-1", "completed", 1.5), first.receiveMessage(WAIT));
        assertEquals(new StepDone("vm-1", "m-1-1", "completed", 1.5), second.receiveMessage(WAIT));
        first.expectNoMessage(Duration.ofMillis(200)); // a repeat from a waiter already known: one end, not two
        assertEquals(1, calls.get("m-1-1").get());
    }

    /**
     * A port that gates its switch-over: the agent's permit is taken in the gate, so the three steps' set-ups run at
     * once while K = 1 bounds what lies between admission and release; each permit goes back once, with the downtime.
     */
    @Test
    void aGatingPortGetsThePermitAtItsSwitchOverOnly() throws Exception {
        CountDownLatch allSetUp = new CountDownLatch(3);
        AtomicInteger settingUp = new AtomicInteger();
        AtomicInteger mostSettingUp = new AtomicInteger();
        FreezeBudget budget = new FreezeBudget(FreezeBudget.Settings.fixed(1));
        HostAgent.MigrationPort gating = new GatingPort() {
            @Override
            public StepDone migrate(String vm, String id, String version, LocalMigration.SwitchoverGate gate) throws Exception {
                mostSettingUp.accumulateAndGet(settingUp.incrementAndGet(), Math::max);
                allSetUp.countDown();
                assertTrue(allSetUp.await(20, TimeUnit.SECONDS), "the set-ups run at once, outside the permit");
                settingUp.decrementAndGet();
                LocalMigration.Release release = gate.admit(Duration.ofSeconds(20));
                mostInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
                Thread.sleep(20); // a switch-over that takes a moment: the others must wait for the one place
                inside.decrementAndGet();
                release.ended(1.5);
                return new StepDone(vm, id, "completed", 1.5);
            }
        };
        ActorRef<HostAgent.Command> a = KIT.spawn(HostAgent.create("host-a", StepLedger.open(dir.resolve("agent/steps.log")),
                budget, WAIT, gating, executor), "gated");
        TestProbe<StepReply> probe = KIT.createTestProbe();
        for (int i = 0; i < 3; i++) {
            a.tell(new PerformStep("host-a", "vm-" + i, "m-1-" + i, 1, probe.getRef()));
        }
        for (int i = 0; i < 3; i++) {
            StepDone done = assertInstanceOf(StepDone.class, probe.receiveMessage(WAIT));
            assertTrue(done.completed(), done.outcome());
        }
        assertEquals(3, mostSettingUp.get(), "the three set-ups overlapped with K = 1");
        assertEquals(1, mostInside.get(), "K = 1 between admission and release");
        assertEquals(1, budget.maxInUse());
        assertEquals(0, budget.inUse(), "every permit went back");
    }

    @Test
    void theAgentsBudgetBoundsItsMigrationsAndItIsFoundThroughTheReceptionist() throws Exception {
        gate = new CountDownLatch(1);
        ActorRef<HostAgent.Command> a = agent("budget", 1);
        TestProbe<StepReply> probe = KIT.createTestProbe();
        List<String> vms = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            vms.add("vm-" + i);
            a.tell(new PerformStep("host-a", "vm-" + i, "m-1-" + i, 1, probe.getRef()));
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (mostInside.get() < 1 && System.nanoTime() < deadline) { // the first one in (bounded: a loaded machine is slow)
            Thread.sleep(10);
        }
        Thread.sleep(200); // the other two wait for the one place
        assertEquals(1, mostInside.get());
        gate.countDown();
        for (int i = 0; i < 3; i++) {
            assertInstanceOf(StepDone.class, probe.receiveMessage(WAIT));
        }
        assertEquals(1, mostInside.get(), "K=1: never two migrations in their window at once");
        TestProbe<Receptionist.Listing> listing = KIT.createTestProbe();
        KIT.system().receptionist().tell(Receptionist.find(HostAgent.KEY, listing.getRef()));
        assertTrue(listing.receiveMessage(WAIT).getServiceInstances(HostAgent.KEY).contains(a));
    }

    @Test
    void aStepRepeatedAfterACoordinatorFailOverIsRecognisedAfterManyStepsOfOtherVmsAndAnAgentRestart() throws Exception {
        ActorRef<HostAgent.Command> a = agent("retention-1", 2);
        TestProbe<StepReply> probe = KIT.createTestProbe();
        a.tell(new PerformStep("host-a", "vm-1", "m-1-1", 1, probe.getRef()));
        assertEquals(new StepDone("vm-1", "m-1-1", "completed", 1.5), probe.receiveMessage(WAIT)); // this answer is "lost"
        for (int n = 2; n < 152; n++) { // the coordinator of epoch 1 goes on with the other VMs: the ledger forgets their old steps
            a.tell(new PerformStep("host-a", "vm-" + (2 + n % 3), "m-1-" + n, 1, probe.getRef()));
            assertInstanceOf(StepDone.class, probe.receiveMessage(WAIT));
        }
        KIT.stop(a, WAIT);
        ActorRef<HostAgent.Command> again = agent("retention-2", 2);
        // the coordinator fails over: epoch 2 sends vm-1's open step again, under its id
        again.tell(new PerformStep("host-a", "vm-1", "m-1-1", 2, probe.getRef()));
        assertEquals(new StepDone("vm-1", "m-1-1", "completed", -1), probe.receiveMessage(WAIT),
                "the VM's latest step is kept however many steps of other VMs followed");
        assertEquals(1, calls.get("m-1-1").get(), "and it is not migrated again");
        again.tell(new PerformStep("host-a", "vm-1", "m-2-1", 2, probe.getRef()));
        assertEquals(new StepDone("vm-1", "m-2-1", "completed", 1.5), probe.receiveMessage(WAIT), "the VM's next step runs");
        again.tell(new PerformStep("host-a", "vm-1", "m-1-1", 2, probe.getRef()));
        assertEquals(new StepDone("vm-1", "m-1-1", "completed", -1), probe.receiveMessage(WAIT),
                "the step before the latest is still known (the margin)");
        assertEquals(1, calls.get("m-1-1").get());
        KIT.stop(again, WAIT);
        try (StepLedger ledger = StepLedger.open(dir.resolve("agent/steps.log"))) {
            assertEquals(4 * StepLedger.KEEP_PER_VM, ledger.size(), "152 steps of 4 VMs: two kept per VM");
            assertTrue(ledger.linesInFile() <= 2 * ledger.size() + 1, "compacted at open: " + ledger.linesInFile());
            assertEquals(2, ledger.highestEpoch());
        }
    }

    @Test
    void aStepForAnotherHostIsRefused() throws Exception {
        ActorRef<HostAgent.Command> a = agent("host", 1);
        TestProbe<StepReply> probe = KIT.createTestProbe();
        a.tell(new PerformStep("host-b", "vm-1", "m-1-1", 1, probe.getRef()));
        assertInstanceOf(StepRefused.class, probe.receiveMessage(WAIT));
        assertTrue(calls.isEmpty());
    }

    @Test
    void stepsOpenInTheLedgerAfterARestartAreReconciledThroughThePort() throws Exception {
        // a ledger as an agent killed mid-plan leaves it: three steps started, none ended
        try (StepLedger ledger = StepLedger.open(dir.resolve("agent/steps.log"))) {
            ledger.recordEpoch(1);
            ledger.recordStarted("m-1-1", "vm-1", 1);
            ledger.recordStarted("m-1-2", "vm-2", 1);
            ledger.recordStarted("m-1-3", "vm-3", 1);
        }
        Map<String, String> answers = Map.of("m-1-1", "completed", "m-1-2", "failed: interrupted",
                "m-1-3", HostAgent.MigrationPort.NOT_STARTED);
        HostAgent.MigrationPort port = new HostAgent.MigrationPort() {
            @Override
            public StepDone migrate(String vm, String id) throws Exception {
                return HostAgentTest.this.migrate(vm, id);
            }

            @Override
            public java.util.Optional<String> reconcile(String vm, String id) {
                return java.util.Optional.of(answers.get(id));
            }
        };
        ActorRef<HostAgent.Command> a = KIT.spawn(HostAgent.create("host-a", StepLedger.open(dir.resolve("agent/steps.log")),
                new FreezeBudget(FreezeBudget.Settings.fixed(2)), WAIT, port, executor), "reconcile");
        TestProbe<StepReply> probe = KIT.createTestProbe();
        a.tell(new PerformStep("host-a", "vm-1", "m-1-1", 1, probe.getRef()));
        assertEquals(new StepDone("vm-1", "m-1-1", "completed", -1), probe.receiveMessage(WAIT),
                "a step the VMMs show completed is answered completed");
        a.tell(new PerformStep("host-a", "vm-2", "m-1-2", 1, probe.getRef()));
        assertEquals(new StepDone("vm-2", "m-1-2", "failed: interrupted", -1), probe.receiveMessage(WAIT));
        a.tell(new PerformStep("host-a", "vm-3", "m-1-3", 1, probe.getRef()));
        assertEquals(new StepDone("vm-3", "m-1-3", "completed", 1.5), probe.receiveMessage(WAIT),
                "a step that never launched anything is performed now, under its id");
        assertEquals(null, calls.get("m-1-1"), "a reconciled step is not migrated again");
        assertEquals(null, calls.get("m-1-2"));
        assertEquals(1, calls.get("m-1-3").get());
        KIT.stop(a, WAIT);
        try (StepLedger ledger = StepLedger.open(dir.resolve("agent/steps.log"))) {
            assertEquals("completed", ledger.get("m-1-1").orElseThrow().outcome());
            assertEquals("failed: interrupted", ledger.get("m-1-2").orElseThrow().outcome());
            assertEquals("completed", ledger.get("m-1-3").orElseThrow().outcome());
        }
    }
    /**
     * With a look-ahead of L = 1 at K = 1, at most two steps are in their port call at once (the agent waits for a place
     * before the port touches any VMM), and every place goes back: after a completed step, a failed one and one whose
     * port threw. A wait that outlasts the step's timeout fails the step without calling the port.
     */
    @Test
    void theLookAheadBoundsTheStepsInTheirRunAndEveryPlaceGoesBack() throws Exception {
        FreezeBudget budget = new FreezeBudget(FreezeBudget.Settings.fixed(1).withLookAhead(FreezeBudget.LookAhead.fixed(1)));
        AtomicInteger inPort = new AtomicInteger();
        AtomicInteger mostInPort = new AtomicInteger();
        CountDownLatch twoIn = new CountDownLatch(2);
        HostAgent.MigrationPort port = new GatingPort() {
            @Override
            public StepDone migrate(String vm, String id, String version, LocalMigration.SwitchoverGate g) throws Exception {
                calls.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
                mostInPort.accumulateAndGet(inPort.incrementAndGet(), Math::max);
                try {
                    twoIn.countDown();
                    assertTrue(twoIn.await(20, TimeUnit.SECONDS), "two steps set up at once: K + L = 2");
                    if (vm.equals("vm-throws")) {
                        throw new java.io.IOException("the test's port broke");
                    }
                    LocalMigration.Release release = g.admit(Duration.ofSeconds(20));
                    Thread.sleep(10);
                    boolean ok = !vm.equals("vm-fails");
                    release.ended(ok ? 1.5 : -1);
                    return new StepDone(vm, id, ok ? "completed" : "failed: the test's migration failed", ok ? 1.5 : -1);
                } finally {
                    inPort.decrementAndGet();
                }
            }
        };
        ActorRef<HostAgent.Command> a = KIT.spawn(HostAgent.create("host-a", StepLedger.open(dir.resolve("agent/steps.log")),
                budget, WAIT, port, executor), "look-ahead");
        TestProbe<StepReply> probe = KIT.createTestProbe();
        List<String> vms = List.of("vm-0", "vm-fails", "vm-throws", "vm-3", "vm-4", "vm-5");
        for (int i = 0; i < vms.size(); i++) {
            a.tell(new PerformStep("host-a", vms.get(i), "m-1-" + i, 1, probe.getRef()));
        }
        Map<String, String> outcomes = new java.util.TreeMap<>();
        for (int i = 0; i < vms.size(); i++) {
            StepDone done = assertInstanceOf(StepDone.class, probe.receiveMessage(WAIT));
            outcomes.put(done.vm(), done.outcome());
        }
        assertEquals("completed", outcomes.get("vm-0"), outcomes.toString());
        assertTrue(outcomes.get("vm-fails").startsWith("failed: the test's"), outcomes.toString());
        assertTrue(outcomes.get("vm-throws").contains("the test's port broke"), outcomes.toString());
        assertEquals(4, outcomes.values().stream().filter("completed"::equals).count(), outcomes.toString());
        assertEquals(2, mostInPort.get(), "4 migration threads, but K + L = 2 steps in their run at once");
        assertEquals(2, budget.maxInRun());
        assertEquals(0, budget.inRun(), "every place went back (completed, failed, thrown)");
        assertEquals(0, budget.inUse());

        // a place held past the step's timeout: the next step fails clearly and its port is never called
        FreezeBudget full = new FreezeBudget(FreezeBudget.Settings.fixed(1).withLookAhead(FreezeBudget.LookAhead.fixed(0)));
        FreezeBudget.RunPlace held = full.enterRun(WAIT);
        ActorRef<HostAgent.Command> b = KIT.spawn(HostAgent.create("host-a", StepLedger.open(dir.resolve("agent2/steps.log")),
                full, Duration.ofMillis(200), port, executor), "look-ahead-full");
        b.tell(new PerformStep("host-a", "vm-9", "m-1-9", 1, probe.getRef()));
        StepDone refused = assertInstanceOf(StepDone.class, probe.receiveMessage(WAIT));
        assertTrue(refused.outcome().startsWith("failed: no look-ahead place (the VM was not touched)"), refused.outcome());
        assertEquals(null, calls.get("m-1-9"), "the port was not called");
        full.leaveRun(held);
        assertEquals(0, full.inRun());
    }

    /** A port that gates its switch-over: the agent must call it with its gate. */
    private abstract static class GatingPort implements HostAgent.MigrationPort {
        @Override
        public StepDone migrate(String vm, String id) {
            throw new AssertionError("a gating port is called with its gate");
        }

        @Override
        public boolean gatesSwitchover() {
            return true;
        }
    }
}
