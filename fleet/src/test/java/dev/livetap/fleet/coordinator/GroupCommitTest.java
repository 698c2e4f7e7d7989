package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.ask;
import static dev.livetap.fleet.testing.CoordinatorAsk.awaitComplete;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.bench.StubAgent;
import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GroupCommits;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.PlanAccepted;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.StepRecord;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.SubmitPlan;
import dev.livetap.fleet.journal.CoordinatorJournal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plan driver's group commit: the ends, starts and hosts done that become due while one journal
 * write is in flight share the next write; a grant still reaches an agent only after it is journaled,
 * so a coordinator restarted between writes loses no step an agent was given (its new incarnation
 * resends the same migration id, never a second one), and every step is journaled once.
 */
class GroupCommitTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    /** VM → the migration ids the stand-in agents were given for it, in order. */
    private final Map<String, List<String>> given = new ConcurrentHashMap<>();

    /** {@code host}'s agent: lists {@code vms}; answers the first {@code answering} steps it is given at once, then none. */
    private Behavior<HostAgent.Command> standIn(String host, List<String> vms, int answering) {
        AtomicInteger answered = new AtomicInteger();
        return StubAgent.create(host, vms, p -> {
            List<String> ids = given.computeIfAbsent(p.vm(), v -> new CopyOnWriteArrayList<>());
            if (!ids.contains(p.migrationId())) {
                ids.add(p.migrationId());
            }
            return answered.incrementAndGet() > answering || StubAgent.complete(p, 0.1);
        });
    }

    private static List<String> vms(String host, int n) {
        List<String> vms = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            vms.add(host + "-vm" + i);
        }
        return vms;
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void stepsShareJournalWritesAndARestartBetweenWritesLosesNoGrantedStep() throws Exception {
        Path journal = dir.resolve("journal");
        List<String> hosts = List.of("r0", "r1", "r2", "r3");
        int perHost = 40;
        int answering = 30;
        int window = PlanDriver.Settings.DEFAULT.stepsInFlightPerHost();
        Map<String, String> givenBefore;
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(journal), TIMEOUT)) {
            for (String host : hosts) {
                node.system().systemActorOf(standIn(host, vms(host, perHost), answering), HostAgent.ACTOR_NAME_PREFIX + host,
                        Props.empty());
            }
            assertInstanceOf(PlanAccepted.class, ask(node, r -> new SubmitPlan(new Plan("0.2.0", hosts,
                    hosts.size(), 0, 10.0), r)));
            // each host answered its first steps (their ends and the next grants shared writes), then holds a full window
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            Status s;
            do {
                Thread.sleep(20);
                s = assertInstanceOf(Status.class, ask(node, GetStatus::new));
            } while ((s.open().size() < hosts.size() * window || s.finished().size() < hosts.size() * answering
                    // the status counts a step open once its start is written; its PerformStep may still be on its way
                    || given.size() < hosts.size() * (answering + window)) && System.nanoTime() < deadline);
            assertEquals(hosts.size() * answering, s.finished().size(), s.toString());
            assertEquals(hosts.size() * window, s.open().size(), s.toString());
            givenBefore = new TreeMap<>();
            given.forEach((vm, ids) -> givenBefore.put(vm, ids.get(0)));
            assertEquals(hosts.size() * (answering + window), givenBefore.size(), "the agents were given the answered and the "
                    + "open steps, no other: " + givenBefore);
            GroupCommits commits = assertInstanceOf(GroupCommits.class, ask(node,
                    UpgradeCoordinator.GetGroupCommits::new));
            // every start and every end went through the group commits
            assertEquals(s.finished().size() * 2L + s.open().size(), commits.events(), commits.toString());
            assertTrue(commits.largest() > 1, "a write carried more than one event: " + commits);
            assertTrue(commits.writes() * 2 < commits.events(), "the writes are shared (more than 2 events a write on average, "
                    + "one step being 2 events): " + commits);
            System.out.printf(java.util.Locale.ROOT, "group commit: %d events in %d writes (%.1f a write, largest %d)%n",
                    commits.events(), commits.writes(), (double) commits.events() / commits.writes(), commits.largest());
        }
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(journal), TIMEOUT)) {
            for (String host : hosts) {
                node.system().systemActorOf(standIn(host, vms(host, perHost), Integer.MAX_VALUE), HostAgent.ACTOR_NAME_PREFIX + host,
                        Props.empty());
            }
            Status done = awaitComplete(node, TIMEOUT);
            assertFalse(done.halted(), done.toString());
            assertEquals(2, done.epoch());
            assertEquals(hosts.size() * perHost, done.finished().size(), "every VM is upgraded: " + done.finished().keySet());
            givenBefore.forEach((vm, id) -> {
                StepRecord r = done.finished().get(vm);
                assertEquals(id, r.migrationId(), vm + ": a step an agent was given before the restart was journaled, so the "
                        + "new incarnation finished that step, not a new one");
            });
            given.forEach((vm, ids) -> assertEquals(1, ids.size(), vm + " was given one migration id only: " + ids));
        }
        Map<String, Integer> rows = journalRows(journal);
        assertEquals(hosts.size() * perHost, rows.get("StepStarted"), "one StepStarted a VM, none granted twice: " + rows);
        assertEquals(hosts.size() * perHost, rows.get("StepClosed"), rows.toString());
        assertEquals(hosts.size(), rows.get("HostFinished"), rows.toString());
    }

    /** The coordinator's journal rows by event class, read with plain JDBC (an independent record). */
    private static Map<String, Integer> journalRows(Path journal) throws Exception {
        Map<String, Integer> rows = new TreeMap<>();
        CoordinatorJournal.rows(FleetConfig.h2File(journal), "livetap", "").forEach(r -> rows.merge(r.eventName(), 1, Integer::sum));
        return rows;
    }
}
