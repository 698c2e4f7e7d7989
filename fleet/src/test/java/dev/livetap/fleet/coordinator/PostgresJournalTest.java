package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static dev.livetap.fleet.testing.CoordinatorAsk.awaitComplete;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.agent.StepLedger;
import dev.livetap.fleet.budget.FreezeBudget;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepClosed;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepStarted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import dev.livetap.fleet.journal.CoordinatorJournal.Recorded;
import dev.livetap.fleet.journal.CoordinatorJournal;
import dev.livetap.fleet.journal.JournalCredentials;
import dev.livetap.fleet.journal.ThrowawayPostgres;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator's journal in a real PostgreSQL server (one throw-away server for the class, a
 * database of its own per test): a plan survives the server's restart mid-plan, and a coordinator
 * on another node resumes a plan from the same journal. Stub agents (real {@link HostAgent}s whose
 * migration only waits) record each migration they perform; the journal's rows, read back with
 * plain JDBC, must agree: every VM step started and closed once, under the id the agent performed.
 */
class PostgresJournalTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    /** A restart: the server down this long, well within the journal's connection timeout. */
    private static final Duration SHORT_OUTAGE = Duration.ofSeconds(2);
    /** An outage past the journal's connection timeout: the writes waiting for a connection fail. */
    private static final Duration LONG_OUTAGE = Duration.ofMillis(FleetConfig.JOURNAL_CONNECTION_TIMEOUT_MS + 5000);
    private static final long STUB_MIGRATION_MS = 40;

    private static ThrowawayPostgres server;

    @TempDir
    Path dir;

    /** VM → the migration ids the stub agents performed for it, in order. */
    private final Map<String, List<String>> performed = new ConcurrentHashMap<>();
    private final Set<String> migratingNow = ConcurrentHashMap.newKeySet();
    private final List<String> overlaps = new CopyOnWriteArrayList<>();
    /** Migrations after the first {@link #runFreely} wait for this gate: the test decides what happens meanwhile. */
    private final java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
    private final java.util.concurrent.atomic.AtomicInteger begun = new java.util.concurrent.atomic.AtomicInteger();
    private volatile int runFreely = Integer.MAX_VALUE;
    private final ExecutorService executor = Executors.newFixedThreadPool(8, r -> new Thread(r, "postgres-test-migration"));

    @BeforeAll
    static void startServer() throws Exception {
        Optional<String> unavailable = ThrowawayPostgres.unavailableReason(true);
        assumeTrue(unavailable.isEmpty(), () -> "skipped: no PostgreSQL server to start: " + unavailable.orElse(""));
        server = ThrowawayPostgres.start();
    }

    @AfterAll
    static void removeServer() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    @AfterEach
    void stopExecutor() {
        executor.shutdownNow();
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aPlanFinishesAcrossADatabaseRestartAndTheJournalHoldsEveryStepOnce() throws Exception {
        Status done = runAcrossAnOutage("restart_mid_plan", SHORT_OUTAGE);
        // Writes issued while the server is down wait for a connection; one in flight at the stop loses its
        // connection (pg_ctl stop -m fast terminates it) and fails, and the coordinator restarts once (a new
        // epoch). Which happens is timing (a fresh-clone CI run saw epoch 2); the plan's outcome must not be.
        assertTrue(done.epoch() == 1 || done.epoch() == 2, "a restart within the connection timeout: at most the one "
                + "write in flight at the stop fails and restarts the coordinator: epoch " + done.epoch());
    }

    @Test
    @Tag("long")
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void aDatabaseDownPastTheConnectionTimeoutRestartsTheCoordinatorWhichFinishesThePlan() throws Exception {
        Status done = runAcrossAnOutage("down_past_timeout", LONG_OUTAGE);
        assertTrue(done.epoch() >= 2, "the failed journal write must have restarted the coordinator (a new epoch): "
                + "epoch " + done.epoch());
    }

    /**
     * 3 hosts × 10 VMs, no failure allowed. After 6 steps the next migrations are held in the agents; the
     * server stops, the held migrations end (their ends cannot be journaled now), the server stays down
     * {@code outage} and starts again; the plan must complete with each VM migrated once and the journal
     * agreeing.
     */
    private Status runAcrossAnOutage(String database, Duration outage) throws Exception {
        String url = server.createDatabase(database);
        List<String> hosts = List.of("pa", "pb", "pc");
        try (FleetNode node = FleetNode.start(postgres(url, List.of(), FleetNode.COORDINATOR_ROLE, FleetNode.AGENT_ROLE),
                TIMEOUT)) {
            runFreely = 6;
            startAgents(node, hosts, 10);
            Plan plan = new Plan("0.2.0", hosts, 3, 0, 10.0);
            assertEquals(1, assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(plan, r))).epoch());
            awaitFinished(node, 6);

            server.stop();
            gate.countDown();
            Thread.sleep(outage.toMillis());
            server.startServer();

            Status done = awaitComplete(node, TIMEOUT);
            assertFalse(done.halted(), "the outage must not count as a failure: " + done);
            assertEquals(0, done.failures());
            assertEquals(30, done.finished().size(), "every VM of every host has its step recorded");
            assertTrue(done.finished().values().stream().allMatch(UpgradeCoordinator.StepRecord::completed), done.toString());
            assertTrue(done.open().isEmpty(), "no step left open: " + done.open());
            assertAgentsPerformedEachVmOnce(done, 30);
            assertJournalAgrees(journal(node, url), done);
            return done;
        }
    }

    @Test
    @Tag("long") // two cluster starts and a hand-over: 25-30 s on the loaded machine, past CI's budget for one test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aCoordinatorOnAnotherNodeResumesThePlanFromTheSameJournal() throws Exception {
        String url = server.createDatabase("fail_over");
        List<String> hosts = List.of("fa", "fb");
        FleetNode first = FleetNode.start(postgres(url, List.of(), FleetNode.COORDINATOR_ROLE), TIMEOUT);
        FleetNode second;
        try {
            String seed = Cluster.get(first.system()).selfMember().address().toString();
            second = FleetNode.start(postgres(url, List.of(seed), FleetNode.COORDINATOR_ROLE, FleetNode.AGENT_ROLE), TIMEOUT);
        } catch (Exception | Error e) {
            first.close();
            throw e;
        }
        try (second) {
            try (first) {
                runFreely = 4;
                startAgents(second, hosts, 10);
                Plan plan = new Plan("0.2.0", hosts, 2, 0, 10.0);
                assertEquals(1, assertInstanceOf(PlanAccepted.class, ask(first, r -> new SubmitPlan(plan, r))).epoch(),
                        "the singleton runs on the oldest node, the first");
                awaitFinished(first, 4);
            }
            // the held migrations end after the first coordinator is gone: their answers reach no one
            gate.countDown();
            // the first node left: the singleton moves to the second, which recovers the plan from PostgreSQL
            Status done = awaitComplete(second, TIMEOUT);
            assertEquals(2, done.epoch(), "the second node's coordinator is the next incarnation");
            assertFalse(done.halted(), done.toString());
            assertEquals(20, done.finished().size(), "every VM of both hosts has its step recorded");
            assertTrue(done.finished().values().stream().allMatch(UpgradeCoordinator.StepRecord::completed), done.toString());
            assertAgentsPerformedEachVmOnce(done, 20);
            List<Recorded> rows = journal(second, url);
            assertJournalAgrees(rows, done);
            assertEquals(2, rows.stream().map(Recorded::writer).distinct().count(),
                    "two incarnations on two nodes wrote the one journal");
        }
    }

    private static FleetConfig postgres(String url, List<String> seeds, String... roles) {
        JournalCredentials login = server.credentials();
        return new FleetConfig("127.0.0.1", 0, seeds, url, List.of(roles), login);
    }

    private void startAgents(FleetNode node, List<String> hosts, int vmsPerHost) throws Exception {
        for (String host : hosts) {
            List<String> vms = new ArrayList<>();
            for (int i = 0; i < vmsPerHost; i++) {
                vms.add(host + "-vm" + i);
            }
            // a step waits for a permit as long as the gate holds the migrations that have them (a node leaving, a
            // server stopping): a permit timeout shorter than that would fail steps the plan allows none of
            node.system().systemActorOf(HostAgent.create(host, StepLedger.open(dir.resolve(host + ".ledger")),
                    new FreezeBudget(FreezeBudget.Settings.fixed(2)), TIMEOUT, stubPort(vms), executor),
                    HostAgent.ACTOR_NAME_PREFIX + host, Props.empty());
        }
    }

    /** A port that only waits, recording each migration id it performs and any VM migrated twice at once. */
    private HostAgent.MigrationPort stubPort(List<String> vms) {
        return new HostAgent.MigrationPort() {
            @Override
            public HostAgent.StepDone migrate(String vm, String id) throws Exception {
                if (!migratingNow.add(vm)) {
                    overlaps.add(vm + " " + id);
                }
                try {
                    performed.computeIfAbsent(vm, v -> new CopyOnWriteArrayList<>()).add(id);
                    if (begun.incrementAndGet() > runFreely && !gate.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                        return new HostAgent.StepDone(vm, id, "failed: the test's gate never opened", -1);
                    }
                    Thread.sleep(STUB_MIGRATION_MS);
                    return new HostAgent.StepDone(vm, id, "completed", 1.0);
                } finally {
                    migratingNow.remove(vm);
                }
            }

            @Override
            public List<String> vms() {
                return vms;
            }
        };
    }

    private void assertAgentsPerformedEachVmOnce(Status done, int vms) {
        assertTrue(overlaps.isEmpty(), "a VM was in two migrations at once: " + overlaps);
        assertEquals(vms, performed.size(), "the agents performed every VM: " + performed.keySet());
        performed.forEach((vm, ids) -> {
            assertEquals(1, ids.size(), vm + " must be migrated exactly once: " + ids);
            assertEquals(done.finished().get(vm).migrationId(), ids.get(0), vm + ": the journaled id is the one performed");
        });
    }

    /**
     * The journal's own history: sequence numbers 1..n without a gap, every VM's step started once and
     * closed once under that id, after its start, and no VM started again while its step was open.
     */
    private static void assertJournalAgrees(List<Recorded> rows, Status done) {
        for (int i = 0; i < rows.size(); i++) {
            assertEquals(i + 1, rows.get(i).sequenceNumber(), "the journal's sequence numbers must have no gap");
        }
        Map<String, String> open = new HashMap<>();
        Map<String, List<String>> started = new HashMap<>();
        Map<String, List<String>> closed = new HashMap<>();
        for (Recorded row : rows) {
            if (row.event() instanceof StepStarted s) {
                String before = open.put(s.vm(), s.migrationId());
                assertEquals(null, before, s.vm() + " started " + s.migrationId() + " while " + before + " was open");
                started.computeIfAbsent(s.vm(), v -> new ArrayList<>()).add(s.migrationId());
            } else if (row.event() instanceof StepClosed c) {
                assertEquals(c.migrationId(), open.remove(c.vm()), c.vm() + " closed a step that was not its open one");
                closed.computeIfAbsent(c.vm(), v -> new ArrayList<>()).add(c.migrationId());
            }
        }
        assertEquals(done.finished().keySet(), started.keySet(), "the journal started a step for exactly the finished VMs");
        done.finished().forEach((vm, step) -> {
            assertEquals(List.of(step.migrationId()), started.get(vm), vm + " must be started once in the journal");
            assertEquals(List.of(step.migrationId()), closed.get(vm), vm + " must be closed once in the journal");
        });
        assertTrue(open.isEmpty(), "steps left open in the journal: " + open);
        Set<String> ids = new HashSet<>();
        started.values().forEach(ids::addAll);
        assertEquals(done.finished().size(), ids.size(), "every step has its own migration id");
    }

    /** The coordinator's rows, read with plain JDBC and decoded with the node's own serializers. */
    private static List<Recorded> journal(FleetNode node, String url) throws Exception {
        JournalCredentials login = server.credentials();
        return CoordinatorJournal.events(node.system(), url, login.user(), login.password());
    }

    private static void awaitFinished(FleetNode node, int steps) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        Status s;
        do {
            Thread.sleep(20);
            s = assertInstanceOf(Status.class, ask(node, GetStatus::new));
        } while (s.finished().size() < steps && !s.complete() && System.nanoTime() < deadline);
        assertTrue(s.finished().size() >= steps && !s.complete(), "the plan must be under way, " + steps
                + " steps finished and more to come: " + s);
    }
}
