package dev.livetap.actors.migration;

import dev.livetap.simulation.doubles.RecordingScriptRunner;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.actors.options.MigrationParameters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.testing.InterposedChannel;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Whole migrations of a 4-queue NIC between two VM endpoints (two in-memory processes, one ActorSystem). */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class InMemoryMigrationTest {
    static final String URI = "unix:/run/livetap/migration.sock";
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(5));

    InMemoryKernel kernel;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    InMemoryReactorDriver driver;
    ActorTestKit kit;
    PathTransport srcTransport;
    PathTransport tgtTransport;
    int openBefore;

    @BeforeEach
    void setUp() {
        openBefore = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("migration");
        srcTransport = new PathTransport(srcOs);
        tgtTransport = new PathTransport(tgtOs);
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    private Endpoint source() {
        return new Endpoint(kit, "src", srcOs, srcTransport, false, false, new RecordingVhostBackend(), TIMEOUTS);
    }

    private Endpoint target(RecordingVhostBackend vhost) {
        return new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, vhost, TIMEOUTS);
    }

    /** Sends echo requests from 8 host addresses (spread over the queues); returns the sequences answered. */
    private Set<Integer> pingAndCollect(String ifname, int firstSeq, int count) {
        for (int i = 0; i < count; i++) {
            assertTrue(kernel.hostSend(ifname, Frames.echo(100 + i, firstSeq + i)), "the TAP takes the frame");
        }
        return collectReplies(ifname, firstSeq, count);
    }

    private Set<Integer> collectReplies(String ifname, int firstSeq, int count) {
        Set<Integer> got = new TreeSet<>();
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (got.size() < count && System.nanoTime() < deadline) {
            Optional<byte[]> f = kernel.hostReceive(ifname);
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

    @Test
    void fourQueueNicMigratesWithItsTapAndFramesSentDuringTheFreezeReachTheTargetGuest() throws Exception {
        Endpoint src = source();
        Endpoint tgt = target(new RecordingVhostBackend());
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "downscript", "/etc/src-down"));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "x-downscript-duty", true, "downscript", "/etc/tgt-down"));
        tgt.nic("nic0", "net0");
        assertEquals(range(1, 8), pingAndCollect("tap0", 1, 8), "the source guest answers on its 4 queues before");
        long srcSeen = src.nics().get(0).guest().counters().framesSeen();
        assertEquals(8, srcSeen);

        // frames injected on the host side while both sides are frozen: the source's queues are stopped
        // (the stream's first frame is sent only after they stopped) and the target has loaded nothing yet
        tgtTransport.wrapAccepted(ch -> new InterposedChannel(ch, () -> {
            for (int i = 0; i < 8; i++) {
                kernel.hostSend("tap0", Frames.echo(100 + i, 1000 + i));
            }
        }));
        migrateLocally(src, tgt);
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        assertEquals(List.of("setup", "active", "device", "completed"), src.migrationStatuses(),
                "the source's MIGRATION events follow QEMU's sequence");
        assertEquals(List.of("setup", "active", "completed"), tgt.migrationStatuses());
        tgt.awaitRunState("running");
        assertEquals("postmigrate", src.runState());

        assertEquals(range(1000, 8), collectReplies("tap0", 1000, 8),
                "frames sent during the freeze wait in the kernel queues and the target's guest answers them");
        assertEquals(srcSeen, src.nics().get(0).guest().counters().framesSeen(),
                "the source reads nothing after it stopped");
        VirtioNetActor.NicInfo t = tgt.nics().get(0);
        assertEquals(srcSeen + 8, t.guest().counters().framesSeen(), "the guest's counters travelled with the device");
        assertEquals(4, t.queues().stream().filter(q -> q.reading() && q.ownsResource()).count(),
                "every target queue reads its transferred fd");
        assertEquals(List.of("tap0"), kernel.tapDevices(), "no new TAP: the same device moved");
        assertEquals(4, kernel.tapQueueCount("tap0"), "no queue was opened by the target (no TUNSETIFF)");
        assertEquals(0, srcOs.ledger().open(), "the source closed every fd (queues released, socket closed)");
        assertEquals(4, tgtOs.ledger().open(), "the target owns the 4 queue fds and nothing else");
        assertTrue(srcOs.ledger().conserved() && tgtOs.ledger().conserved());

        MigrationInfo si = src.info();
        assertTrue(si.downtimeMs() >= 0 && si.totalTimeMs() >= 0 && si.setupTimeMs() >= 0, "figures: " + si.toQmp());
        assertTrue(si.sourceStoppedNanos() > 0, "x-source-stopped-ns is reported");
        assertTrue(tgt.info().targetStartedNanos() >= si.sourceStoppedNanos(), "target start follows source stop");

        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        assertEquals(List.of(), src.scripts.calls(), "the downscript duty left the source with 'loaded'");
        assertEquals(List.of(new RecordingScriptRunner.Call("/etc/tgt-down", "tap0")), tgt.scripts.calls(),
                "the target runs its own downscript, once");
        awaitOpenCount(openBefore);
    }

    @Test
    void withoutBackendTransferTheTargetOpensItsOwnTapAndTheSourceKeepsItsTapUntilItEnds() throws Exception {
        Endpoint src = source();
        Endpoint tgt = target(new RecordingVhostBackend());
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "downscript", "/etc/src-down"));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap1", "queues", 4, "downscript", "/etc/tgt-down"));
        tgt.nic("nic0", "net0");
        assertEquals(range(1, 4), pingAndCollect("tap0", 1, 4));
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        src.ok(r -> new VmActor.Migrate(URI, r)); // 'local' off: the backend stays
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        tgt.awaitRunState("running");
        assertEquals(range(50, 4), pingAndCollect("tap1", 50, 4), "the target's guest answers on its own TAP");
        assertEquals(4, tgt.nics().get(0).guest().counters().framesSeen() - 4,
                "the guest state travelled even without the backend");
        // QEMU keeps the source's TAP until the process ends: a completed migration closes nothing
        assertEquals(List.of("tap0", "tap1"), kernel.tapDevices(), "the source keeps its own TAP after completing");
        assertEquals(4, srcOs.ledger().open(), "the source still holds its 4 queue fds");
        assertEquals(4, src.nics().get(0).queues().stream().filter(q -> q.ownsResource() && !q.reading()).count(),
                "each source queue keeps its fd, paused (not reading)");
        assertEquals(List.of(), src.scripts.calls(), "no downscript before the VM ends");
        // QEMU resumes a source in postmigrate on cont; its backend stayed here, so livetap does too
        src.ok(VmActor.Cont::new);
        assertEquals("running", src.runState());
        assertEquals(range(70, 4), pingAndCollect("tap0", 70, 4), "the source's own queues read again after cont");
        src.ok(VmActor.Stop::new);
        assertEquals("paused", src.runState());

        List<Boolean> tapWhileDownscriptRan = new java.util.concurrent.CopyOnWriteArrayList<>();
        src.scripts.onRun(c -> tapWhileDownscriptRan.add(kernel.tapDevices().contains("tap0")));
        org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<Object> watcher = kit.createTestProbe();
        src.vm.tell(new VmActor.Shutdown());
        watcher.expectTerminated(src.vm, Duration.ofSeconds(10));
        assertEquals(List.of(new RecordingScriptRunner.Call("/etc/src-down", "tap0")), src.scripts.calls(),
                "without backend transfer the source keeps its downscript duty and runs it when the VM ends");
        assertEquals(List.of(true), tapWhileDownscriptRan, "the downscript runs while the TAP still exists (QEMU's order)");
        awaitSourceFds(0);
        assertEquals(List.of("tap1"), kernel.tapDevices(), "the VM's end closed the source's queues: its TAP is gone");
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
        awaitOpenCount(openBefore);
    }

    private void awaitSourceFds(int expected) throws InterruptedException {
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (srcOs.ledger().open() != expected && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertEquals(expected, srcOs.ledger().open());
    }

    /**
     * A target that cannot take a frame (out of descriptors when the section's fds arrive: EMFILE,
     * MSG_CTRUNC) stays alive and knows why: it says so on the return path before it closes, so the
     * source's error-desc names the cause instead of only "the channel closed … ECONNRESET".
     */
    @Test
    void aTargetOutOfDescriptorsTellsTheSourceWhyBeforeItCloses() throws Exception {
        Endpoint src = source();
        Endpoint tgt = target(new RecordingVhostBackend());
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true, "script", "no",
                "downscript", "no"));
        tgt.nic("nic0", "net0");
        tgtTransport.onAcceptedSocket(s -> kernel.faults().truncateFdsOnNextRecvmsg(s));
        migrateLocally(src, tgt);
        src.awaitMigrationStatus("failed");
        tgt.awaitMigrationStatus("failed");
        String desc = src.info().errorDesc();
        assertTrue(desc.startsWith("the target failed to load the migration: the target could not receive the migration stream: "),
                "the source says what happened on the target: " + desc);
        assertTrue(desc.contains("EMFILE"), "the target's reason (its descriptor limit) reaches the source: " + desc);
        assertFalse(desc.contains("closed before the target answered"), desc);
        String tdesc = tgt.info().errorDesc();
        assertTrue(tdesc.startsWith(MigrationCoordinator.NOTHING_RECEIVED), "no fd arrived: the target says so, not"
                + " 'device lost': " + tdesc);
        src.awaitRunState("running"); // a source that was running resumes by itself (QEMU)
        awaitTargetFds(0);
        assertEquals(range(1, 8), pingAndCollect("tap0", 1, 8), "the source's queues work again");
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
        awaitOpenCount(openBefore);
    }

    @Test
    void targetPostLoadFailureRollsTheSourceBackAndTheTargetClosesWhatItReceived() throws Exception {
        Endpoint src = source();
        Endpoint tgt = target(new RecordingVhostBackend().failSetUp(2));
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "downscript", "/etc/src-down"));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "x-downscript-duty", true, "vhost", true,
                "downscript", "/etc/tgt-down"));
        tgt.nic("nic0", "net0");
        migrateLocally(src, tgt);
        src.awaitMigrationStatus("failed");
        tgt.awaitMigrationStatus("failed");
        String expected = "queue 2: Failed to setup vhost during TAP post-load: injected failure";
        assertTrue(tgt.info().errorDesc().contains(expected), "target error-desc: " + tgt.info().errorDesc());
        assertTrue(src.info().errorDesc().startsWith("the target failed to load the migration: "),
                "source error-desc: " + src.info().errorDesc());
        assertTrue(src.info().errorDesc().contains(expected), "the target's reason reaches the source");
        src.awaitRunState("running"); // a source that was running resumes by itself after a failure (QEMU)
        awaitTargetFds(0);
        assertEquals(3, tgt.vhost.calls().stream().filter(c -> c instanceof RecordingVhostBackend.SetUp).count(),
                "queues 0, 1 and 3 had vhost set up before the failure");
        src.ok(VmActor.Cont::new); // a no-op on a running VM, as in QEMU
        assertEquals(range(1, 8), pingAndCollect("tap0", 1, 8), "the source's queues work again");
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        assertEquals(List.of(new RecordingScriptRunner.Call("/etc/src-down", "tap0")), src.scripts.calls(),
                "after a failure the downscript duty stays with the source");
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
        assertEquals(List.of(), tgt.scripts.calls(), "the target never got the duty");
        assertEquals(0, tgt.vhost.liveCount(), "every vhost queue the target opened is torn down");
        awaitOpenCount(openBefore);
    }

    /** Two NICs: two sections in one stream, acked at once and loaded one after the other. */
    @Test
    void twoNicsMigrateTogetherEachWithItsOwnTap() throws Exception {
        Endpoint src = source();
        Endpoint tgt = target(new RecordingVhostBackend());
        for (String n : List.of("0", "1")) {
            src.netdev(Map.of("id", "net" + n, "ifname", "tap" + n, "queues", 2));
            src.nic("nic" + n, "net" + n);
            tgt.netdev(Map.of("id", "net" + n, "ifname", "tap" + n, "queues", 2, "incoming-fds", true,
                    "script", "no", "downscript", "no"));
            tgt.nic("nic" + n, "net" + n);
        }
        migrateLocally(src, tgt);
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        tgt.awaitRunState("running");
        assertEquals(range(10, 4), pingAndCollect("tap0", 10, 4), "the first NIC answers on the target");
        assertEquals(range(20, 4), pingAndCollect("tap1", 20, 4), "the second NIC answers on the target");
        for (VirtioNetActor.NicInfo n : tgt.nics()) {
            assertEquals(2, n.queues().stream().filter(q -> q.reading() && q.ownsResource()).count(),
                    n + ": both queues read their transferred fds");
        }
        assertEquals(List.of("tap0", "tap1"), kernel.tapDevices(), "no new TAP");
        assertEquals(0, srcOs.ledger().open(), "the source closed every fd");
        assertEquals(4, tgtOs.ledger().open(), "the target owns the 2 x 2 queue fds and nothing else");
    }

    /**
     * The second section fails to load after the first loaded (and after both were acked): the source
     * rolls back with both NICs working, the target closes every fd of both.
     */
    @Test
    void aSecondNicThatFailsToLoadRollsBothBackAndTheTargetClosesEverything() throws Exception {
        Endpoint src = source();
        Endpoint tgt = target(new RecordingVhostBackend().failSetUp(1));
        for (String n : List.of("0", "1")) {
            src.netdev(Map.of("id", "net" + n, "ifname", "tap" + n, "queues", 2));
            src.nic("nic" + n, "net" + n);
        }
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net1", "ifname", "tap1", "queues", 2, "incoming-fds", true,
                "script", "no", "downscript", "no", "vhost", true));
        tgt.nic("nic1", "net1");
        migrateLocally(src, tgt);
        src.awaitMigrationStatus("failed");
        tgt.awaitMigrationStatus("failed");
        assertTrue(tgt.info().errorDesc().contains("loading nic1 failed")
                && tgt.info().errorDesc().contains("queue 1: Failed to setup vhost"), "target: " + tgt.info().errorDesc());
        awaitTargetFds(0);
        src.awaitRunState("running");
        src.ok(VmActor.Cont::new);
        assertEquals(range(30, 4), pingAndCollect("tap0", 30, 4), "after cont the first NIC works on the source");
        assertEquals(range(40, 4), pingAndCollect("tap1", 40, 4), "and so does the second");
        for (String n : List.of("0", "1")) {
            tgt.ok(r -> new VmActor.DeviceDel("nic" + n, r));
            tgt.ok(r -> new VmActor.NetdevDel("net" + n, r));
        }
        assertEquals(0, tgt.vhost.liveCount(), "every vhost queue the target opened is torn down");
    }

    @Test
    void migrateToANonUnixUriWithLocalFailsAtOnceAndChangesNothing() {
        Endpoint src = source();
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4));
        src.nic("nic0", "net0");
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("backend-transfer", true)), r));
        var reply = src.call(r -> new VmActor.Migrate("tcp:127.0.0.1:4444", r));
        assertFalse(reply.isOk());
        assertEquals(VmReply.Refusal.REJECTED, ((VmReply.Refused) reply).refusal());
        assertEquals("local migration requires a UNIX socket channel (unix:PATH); got tcp:127.0.0.1:4444",
                ((VmReply.Refused) reply).message());
        assertEquals("running", src.runState(), "nothing changed");
        assertEquals(MigrationInfo.NONE, src.info(), "no migration was started");
        assertTrue(src.nics().get(0).queues().stream().allMatch(q -> q.reading()), "the queues still read");
    }

    /** The target listens, then the source migrates with {@code local} on (backend transfer). */
    private void migrateLocally(Endpoint src, Endpoint tgt) throws Exception {
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        src.ok(r -> new VmActor.Migrate(URI, r));
    }

    private void awaitTargetFds(int expected) {
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (tgtOs.ledger().open() != expected && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(expected, tgtOs.ledger().open(), "the target closed every fd it received: "
                + tgtOs.describeOpenFds());
    }

    private void awaitOpenCount(int expected) {
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (OwnedFd.openCount() != expected && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(expected, OwnedFd.openCount(), "owned fds add up: everything opened was closed; source: "
                + srcOs.describeOpenFds() + " target: " + tgtOs.describeOpenFds());
    }
}
