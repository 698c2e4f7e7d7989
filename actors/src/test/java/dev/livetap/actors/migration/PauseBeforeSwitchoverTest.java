package dev.livetap.actors.migration;

import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationParameters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Capability {@code pause-before-switchover}: the source stops, reports {@code pre-switchover} and
 * saves nothing until {@code migrate-continue}; a cancel in the hold rolls back with every fd kept.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class PauseBeforeSwitchoverTest {
    static final String URI = "unix:/run/livetap/hold.sock";
    /** A step (stop, save, load one section) far shorter than the holds below: the hold must not count as one. */
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(1),
            Duration.ofSeconds(10), Duration.ofSeconds(5));
    static final Duration HOLD = Duration.ofMillis(3_000);

    InMemoryKernel kernel;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    InMemoryReactorDriver driver;
    ActorTestKit kit;
    PathTransport tgtTransport;
    Endpoint src;
    Endpoint tgt;
    int openBefore;

    @BeforeEach
    void setUp() {
        openBefore = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("hold");
        tgtTransport = new PathTransport(tgtOs);
        src = new Endpoint(kit, "src", srcOs, new PathTransport(srcOs), false, false, new RecordingVhostBackend(), TIMEOUTS);
        tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, new RecordingVhostBackend(), TIMEOUTS);
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    private void pauseBeforeSwitchover(Endpoint e) {
        e.ok(r -> new VmActor.MigrateSetCapabilities(
                Map.of(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER, true), r));
    }

    private void migrateLocally() throws Exception {
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        src.ok(r -> new VmActor.Migrate(URI, r));
    }

    private static String continueError(Endpoint e, String state) {
        VmReply r = e.call(ref -> new VmActor.MigrateContinue(MigrationStatus.fromQmp(state), ref));
        assertFalse(r.isOk(), "migrate-continue " + state + " must fail on " + e.name);
        assertEquals(VmReply.Refusal.REJECTED, ((VmReply.Refused) r).refusal());
        return ((VmReply.Refused) r).message();
    }

    private Set<Integer> collectReplies(int firstSeq, int count) {
        Set<Integer> got = new TreeSet<>();
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (got.size() < count && System.nanoTime() < deadline) {
            Optional<byte[]> f = kernel.hostReceive("tap0");
            if (f.isEmpty()) {
                Thread.onSpinWait();
                continue;
            }
            Frames.echoReplySequence(f.get()).filter(s -> s >= firstSeq && s < firstSeq + count).ifPresent(got::add);
        }
        return got;
    }

    private static Set<Integer> range(int first, int count) {
        Set<Integer> s = new TreeSet<>();
        for (int i = 0; i < count; i++) {
            s.add(first + i);
        }
        return s;
    }

    private Set<Integer> ping(int firstSeq, int count) {
        for (int i = 0; i < count; i++) {
            assertTrue(kernel.hostSend("tap0", Frames.echo(100 + i, firstSeq + i)), "the TAP takes the frame");
        }
        return collectReplies(firstSeq, count);
    }

    /** The source's queues are stopped and still hold their fds; the target holds none. */
    private void assertHeld(long srcFramesSeen) {
        assertEquals("pre-switchover", src.info().status().qmpName(), "query-migrate reports the hold");
        assertEquals("finish-migrate", src.runState());
        VirtioNetActor.NicInfo s = src.nics().get(0);
        assertEquals(4, s.queues().stream().filter(q -> !q.reading() && q.ownsResource()).count(),
                "every source queue is stopped and still owns its fd: " + s.queues());
        assertEquals(srcFramesSeen, s.guest().counters().framesSeen(), "the source reads nothing in the hold");
        String tgtStatus = tgt.info().status().qmpName(); // setup until its accept is handled, then active
        assertTrue(Set.of("setup", "active").contains(tgtStatus), "the target has no device state yet: " + tgtStatus);
        assertTrue(tgt.nics().get(0).queues().stream().noneMatch(q -> q.ownsResource()),
                "no fd reached the target: nothing was saved or sent");
    }

    @Test
    void theSourceHoldsInPreSwitchoverSavesNothingAndFramesWrittenInTheHoldReachTheTarget() throws Exception {
        pauseBeforeSwitchover(src);
        assertEquals(range(1, 8), ping(1, 8), "the source's guest answers before the migration");
        long seen = src.nics().get(0).guest().counters().framesSeen();
        migrateLocally();
        src.awaitMigrationStatus("pre-switchover");
        Thread.sleep(HOLD.toMillis()); // longer than three steps: no phase timer may end the hold
        kernel.clock().advance(HOLD); // the in-memory OS's monotonic clock, for the downtime figure
        assertHeld(seen);
        for (int i = 0; i < 8; i++) { // into the kernel queues of the stopped source
            assertTrue(kernel.hostSend("tap0", Frames.echo(100 + i, 500 + i)), "the TAP takes a frame in the hold");
        }
        assertEquals("Migration not in expected state: pre-switchover", continueError(src, "active"),
                "QEMU's text for a wrong state");
        assertEquals("Migration not in expected state: pre-switchover", continueError(src, "postcopy-active"),
                "a QEMU status livetap never reaches");
        assertEquals("Migration not in expected state: none", continueError(tgt, "pre-switchover"),
                "the target has no outgoing migration");
        assertHeld(seen);

        src.ok(r -> new VmActor.MigrateContinue(MigrationStatus.PRE_SWITCHOVER, r));
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        assertEquals(List.of("setup", "active", "pre-switchover", "device", "completed"), src.migrationStatuses(),
                "the source's MIGRATION events with the capability on");
        assertEquals(List.of("setup", "active", "completed"), tgt.migrationStatuses(), "the target's are unchanged");
        tgt.awaitRunState("running");
        assertEquals("postmigrate", src.runState());
        assertEquals(range(500, 8), collectReplies(500, 8),
                "frames written into the TAP during the hold wait in its queues and the target's guest answers them");
        assertTrue(src.info().downtimeMs() >= HOLD.toMillis(), "the downtime counts from the stop, the hold included: "
                + src.info().toQmp());
        assertEquals(0, srcOs.ledger().open(), "the source gave every fd away or closed it");
        assertEquals(4, tgtOs.ledger().open(), "the target owns the 4 queue fds");
        assertEquals("Migration not in expected state: completed", continueError(src, "pre-switchover"));
    }

    /**
     * QEMU's source waits in pre-switchover until migrate-continue even when the target died meanwhile
     * (its migration thread sleeps on a semaphore): livetap's stays held too, queues stopped with their
     * fds, and migrate-continue then goes to device and fails at once, rolled back; the source runs again.
     */
    @Test
    void aTargetThatDiesInTheHoldLeavesTheSourceHeldUntilMigrateContinueWhichThenFails() throws Exception {
        java.util.concurrent.CompletableFuture<OwnedFd> accepted = new java.util.concurrent.CompletableFuture<>();
        tgtTransport.onAcceptedSocket(accepted::complete);
        pauseBeforeSwitchover(src);
        assertEquals(range(1, 4), ping(1, 4));
        long seen = src.nics().get(0).guest().counters().framesSeen();
        migrateLocally();
        src.awaitMigrationStatus("pre-switchover");
        // the accept callback runs on the target's side and may trail the source's status (a load-40 run saw it)
        kernel.faults().dropConnection(accepted.get(Endpoint.WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS));
        Thread.sleep(300); // the source has heard of it by now
        assertEquals("pre-switchover", src.info().status().qmpName(), "still held after the target went away (QEMU)");
        assertEquals("finish-migrate", src.runState());
        VirtioNetActor.NicInfo held = src.nics().get(0);
        assertEquals(4, held.queues().stream().filter(q -> !q.reading() && q.ownsResource()).count(),
                "every source queue is stopped and keeps its fd: " + held.queues());
        assertEquals(seen, held.guest().counters().framesSeen());

        src.ok(r -> new VmActor.MigrateContinue(MigrationStatus.PRE_SWITCHOVER, r));
        src.awaitMigrationStatus("failed");
        assertEquals(List.of("setup", "active", "pre-switchover", "device", "failed"), src.migrationStatuses(),
                "QEMU's sequence: migrate-continue goes on to device, then the dead channel fails it");
        assertTrue(src.info().errorDesc().startsWith("the migration channel closed before the target answered"),
                src.info().errorDesc());
        src.awaitRunState("running"); // it was running before migrate: it resumes by itself
        assertEquals(range(10, 4), ping(10, 4), "the source's queues work again");
        tgt.awaitMigrationStatus("failed");
    }

    @Test
    void cancelInTheHoldRollsBackWithEveryFdAndTheSourceWorksAfterCont() throws Exception {
        pauseBeforeSwitchover(src);
        long seen = src.nics().get(0).guest().counters().framesSeen();
        migrateLocally();
        src.awaitMigrationStatus("pre-switchover");
        assertHeld(seen);
        int srcFds = srcOs.ledger().open();
        src.ok(VmActor.MigrateCancel::new);
        src.awaitMigrationStatus("cancelled");
        tgt.awaitMigrationStatus("failed");
        assertEquals(List.of("setup", "active", "pre-switchover", "cancelling", "cancelled"), src.migrationStatuses());
        src.awaitRunState("running"); // rolled back as after any cancel: it was running, it runs again (QEMU)
        assertEquals(4, src.nics().get(0).queues().stream().filter(q -> q.ownsResource()).count(),
                "every source queue kept its fd");
        assertEquals(srcFds - 1, srcOs.ledger().open(), "the source closed its migration socket and nothing else");
        assertEquals(0, tgtOs.ledger().open(), "the target received nothing and holds nothing");
        assertEquals("Migration not in expected state: cancelled", continueError(src, "pre-switchover"));
        src.ok(VmActor.Cont::new);
        assertEquals(range(30, 8), ping(30, 8), "after cont the source's queues read again");
    }

    /**
     * QEMU's migrate_cancel returns once the migration is {@code cancelling}; the resume and
     * {@code cancelled} come later. One probe sees both the events and the reply, in the VM's order.
     */
    @Test
    void cancelInTheHoldRepliesAfterCancellingAndBeforeTheResume() throws Exception {
        pauseBeforeSwitchover(src);
        migrateLocally();
        src.awaitMigrationStatus("pre-switchover");
        TestProbe<Object> session = kit.createTestProbe();
        src.vm.tell(new VmActor.Subscribe(session.getRef().narrow()));
        src.vm.tell(new VmActor.MigrateCancel(session.getRef().narrow()));
        List<String> beforeReply = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Object m = session.receiveMessage(Endpoint.WAIT);
            if (m instanceof VmReply r) {
                assertTrue(r.isOk(), "migrate_cancel: " + r);
                break;
            }
            VmEvent e = (VmEvent) m;
            beforeReply.add(e.event().equals(VmEvent.MIGRATION) ? e.event() + ":" + e.data().get("status") : e.event());
        }
        assertEquals(List.of("MIGRATION:cancelling"), beforeReply, "QEMU: cancelling, then the reply");
        src.awaitMigrationStatus("cancelled");
        src.awaitRunState("running");
    }

    @Test
    void xSwitchoverLimitCountsTheHoldAndRollsBack() throws Exception {
        pauseBeforeSwitchover(src);
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("x-switchover-limit", 300)), r));
        migrateLocally();
        src.awaitMigrationStatus("pre-switchover");
        src.awaitMigrationStatus("failed");
        tgt.awaitMigrationStatus("failed");
        assertEquals("switch-over exceeded x-switchover-limit of 300 ms; rolled back", src.info().errorDesc());
        src.awaitRunState("running");
        assertEquals(4, src.nics().get(0).queues().stream().filter(q -> q.ownsResource()).count(),
                "every source queue kept its fd");
        assertEquals(0, tgtOs.ledger().open());
        src.ok(VmActor.Cont::new);
        assertEquals(range(40, 4), ping(40, 4));
    }

    @Test
    void withTheCapabilityOffMigrateContinueFindsNoHoldAndTheSequenceIsUnchanged() throws Exception {
        migrateLocally();
        src.awaitMigrationStatus("completed");
        assertEquals(List.of("setup", "active", "device", "completed"), src.migrationStatuses());
        assertEquals("Migration not in expected state: completed", continueError(src, "pre-switchover"));
        assertFalse(((VmReply.Capabilities) src.ok(VmActor.QueryMigrateCapabilities::new)).capabilities()
                .isOn(MigrationCapabilities.Capability.PAUSE_BEFORE_SWITCHOVER), "off by default");
    }
}
