package dev.livetap.actors.migration;

import dev.livetap.simulation.doubles.RecordingScriptRunner;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.actors.options.MigrationParameters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.nic.VirtioNetSchema;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.tap.NetTapSchema;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.StateStruct;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.ManualTime;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Rollback from each phase, with timers on ManualTime (no sleeping): the source's queues go back to
 * paused with their fds and read again on {@code cont}; the target closes everything it received.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MigrationRollbackTest {
    static final String URI = "unix:/run/livetap/rollback.sock";
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(2),
            Duration.ofSeconds(4), Duration.ofSeconds(3));

    InMemoryKernel kernel;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    InMemoryReactorDriver driver;
    ActorTestKit kit;
    ManualTime time;
    int openBefore;
    /** What the stand-in target received (closed as it arrives). */
    final List<Integer> received = Collections.synchronizedList(new ArrayList<>());

    @BeforeEach
    void setUp() {
        openBefore = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("rollback", ManualTime.config());
        time = ManualTime.get(kit.system());
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
        assertEquals(openBefore, OwnedFd.openCount(), "owned fds add up after the test");
    }

    private Endpoint runningSource(MigrationTransport transport) {
        Endpoint src = new Endpoint(kit, "src", srcOs, transport, false, false, new RecordingVhostBackend(), TIMEOUTS);
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "downscript", "/etc/src-down"));
        src.nic("nic0", "net0");
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        return src;
    }

    /** A target that accepts, counts the frames it receives (closing their fds) and never answers. */
    private FrameChannel silentTarget(boolean closeAfterFirstFrame) throws Exception {
        PathTransport t = new PathTransport(tgtOs);
        CompletableFuture<FrameChannel> accepted = t.acceptOne(new MigrationUri.Unix("/run/livetap/rollback.sock"))
                .toCompletableFuture();
        t.listening().get(5, TimeUnit.SECONDS);
        CompletableFuture<FrameChannel> started = new CompletableFuture<>();
        accepted.thenAccept(ch -> {
            ch.start(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame frame) {
                    received.add(frame.fds().size());
                    frame.close();
                    if (closeAfterFirstFrame) {
                        ch.close();
                    }
                }

                @Override
                public void onClosed(Throwable cause) {
                }
            });
            started.complete(ch);
        });
        return started.thenApply(c -> c).getNow(null) == null ? awaitChannel(started) : started.get();
    }

    private static FrameChannel awaitChannel(CompletableFuture<FrameChannel> f) {
        return null; // the channel is accepted later, on the reactor thread; tests close it through the source
    }

    /**
     * The source rolled back: a source that was running runs again by itself (QEMU), every queue
     * reads with its fd, and the guest answers.
     */
    private void assertResumable(Endpoint src) {
        src.awaitRunState("running");
        assertTrue(src.nics().get(0).queues().stream().allMatch(q -> q.reading() && q.ownsResource()),
                "every queue reads again with its fd: " + src.nics().get(0).queues());
        src.ok(VmActor.Cont::new); // a no-op on a running VM
        for (int i = 0; i < 8; i++) {
            kernel.hostSend("tap0", Frames.echo(100 + i, 500 + i));
        }
        int answered = 0;
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (answered < 8 && System.nanoTime() < deadline) {
            answered += kernel.hostReceive("tap0").flatMap(Frames::echoReplySequence).isPresent() ? 1 : 0;
        }
        assertEquals(8, answered, "the source's queues read and its guest answers");
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        assertEquals(List.of(new RecordingScriptRunner.Call("/etc/src-down", "tap0")), src.scripts.calls(),
                "after a failure the downscript duty stays with the source");
    }

    @Test
    void setupFailsWhenNothingListensAndNothingChanges() {
        Endpoint src = runningSource(new PathTransport(srcOs));
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("failed");
        assertEquals(List.of("setup", "failed"), src.migrationStatuses());
        assertTrue(src.info().errorDesc().startsWith("cannot connect to " + URI + ": "), src.info().errorDesc());
        assertEquals("running", src.runState(), "the VM never stopped");
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    @Test
    void cancelDuringSetupEndsCancelled() {
        MigrationTransport never = new MigrationTransport() {
            @Override
            public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
                return new CompletableFuture<>();
            }

            @Override
            public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
                return new CompletableFuture<>();
            }
        };
        Endpoint src = runningSource(never);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("setup");
        src.ok(VmActor.MigrateCancel::new);
        src.awaitMigrationStatus("cancelled");
        assertEquals(List.of("setup", "cancelling", "cancelled"), src.migrationStatuses());
        assertEquals("running", src.runState());
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    @Test
    void setupTimesOutOnTheTimer() {
        MigrationTransport never = new MigrationTransport() {
            @Override
            public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
                return new CompletableFuture<>();
            }

            @Override
            public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
                return new CompletableFuture<>();
            }
        };
        Endpoint src = runningSource(never);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("setup");
        time.timePasses(Duration.ofSeconds(2));
        src.awaitMigrationStatus("failed");
        assertEquals("connecting to " + URI + " took longer than 2000 ms", src.info().errorDesc());
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    /**
     * Chaos runner: a query-migrate right after a second {@code migrate} answered the first
     * migration's final status (the new coordinator had not reported yet), so a poller waiting for
     * a final status stopped at once and sent {@code cont} to a source that was only starting to
     * migrate. QEMU answers the new migration at once; so must the VM, on both sides.
     */
    @Test
    void queryMigrateRightAfterMigrateReportsTheNewMigration() {
        MigrationTransport never = new MigrationTransport() {
            @Override
            public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
                return new CompletableFuture<>();
            }

            @Override
            public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
                return new CompletableFuture<>();
            }
        };
        Endpoint src = runningSource(never);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("setup");
        time.timePasses(Duration.ofSeconds(2));
        src.awaitMigrationStatus("failed");
        MigrationInfo first = src.info();
        // both commands are in the VM's mailbox before it runs the first: no report of the new coordinator between them
        org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<dev.livetap.actors.vm.VmReply> migrated = kit.createTestProbe();
        org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<dev.livetap.actors.vm.VmReply> queried = kit.createTestProbe();
        src.vm.tell(new VmActor.Migrate(URI, migrated.getRef()));
        src.vm.tell(new VmActor.QueryMigrate(queried.getRef()));
        assertTrue(migrated.receiveMessage(Endpoint.WAIT).isOk(), "the second migrate starts");
        MigrationInfo now = ((VmReply.Migration) queried.receiveMessage(Endpoint.WAIT)).info();
        assertEquals("setup", now.status().qmpName(), "query-migrate after migrate reports the new migration: " + now);
        assertTrue(!now.migrationId().equals(first.migrationId()), "with its own id: " + now + " after " + first);
        assertEquals(null, now.errorDesc(), "without the last migration's error");
        src.ok(VmActor.MigrateCancel::new);
        src.awaitMigrationStatus("cancelled");

        HeldAccept transport = new HeldAccept();
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, transport, true, false, new RecordingVhostBackend(), TIMEOUTS);
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<dev.livetap.actors.vm.VmReply> incoming = kit.createTestProbe();
        org.apache.pekko.actor.testkit.typed.javadsl.TestProbe<dev.livetap.actors.vm.VmReply> asked = kit.createTestProbe();
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.vm.tell(new VmActor.MigrateIncoming(URI, incoming.getRef()));
        tgt.vm.tell(new VmActor.QueryMigrate(asked.getRef()));
        assertTrue(incoming.receiveMessage(Endpoint.WAIT).isOk(), "migrate-incoming starts");
        MigrationInfo tgtNow = ((VmReply.Migration) asked.receiveMessage(Endpoint.WAIT)).info();
        assertEquals("setup", tgtNow.status().qmpName(), "query-migrate after migrate-incoming reports it: " + tgtNow);
        time.timePasses(Duration.ofSeconds(2));
        tgt.awaitMigrationStatus("failed");
        for (Endpoint e : List.of(src, tgt)) {
            e.ok(r -> new VmActor.DeviceDel("nic0", r));
            e.ok(r -> new VmActor.NetdevDel("net0", r));
        }
    }

    @Test
    void returnPathTimeoutAfterTheStreamWasSentRollsBack() throws Exception {
        Endpoint src = runningSource(new PathTransport(srcOs));
        silentTarget(false);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("device");
        awaitReceived(4); // header, section, end marker, description
        assertEquals(List.of(0, 4, 0, 0), received, "the section frame carried the 4 queue fds");
        time.timePasses(Duration.ofSeconds(3));
        src.awaitMigrationStatus("failed");
        assertEquals(List.of("setup", "active", "device", "failed"), src.migrationStatuses());
        assertEquals("waiting for the target's answer (return path) took longer than 3000 ms", src.info().errorDesc());
        assertResumable(src);
    }

    @Test
    void switchoverBeyondTheLimitRollsBack() throws Exception {
        Endpoint src = runningSource(new PathTransport(srcOs));
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("x-switchover-limit", 50)), r));
        silentTarget(false);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("device");
        awaitReceived(4);
        time.timePasses(Duration.ofMillis(50));
        src.awaitMigrationStatus("failed");
        assertEquals("switch-over exceeded x-switchover-limit of 50 ms; rolled back", src.info().errorDesc());
        assertResumable(src);
    }

    @Test
    void cancelInTheDevicePhaseRollsBack() throws Exception {
        Endpoint src = runningSource(new PathTransport(srcOs));
        silentTarget(false);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("device");
        awaitReceived(4);
        src.ok(VmActor.MigrateCancel::new);
        src.awaitMigrationStatus("cancelled");
        assertEquals(List.of("setup", "active", "device", "cancelling", "cancelled"), src.migrationStatuses());
        assertResumable(src);
    }

    @Test
    void aLostChannelDuringTheSwitchOverRollsBack() throws Exception {
        Endpoint src = runningSource(new PathTransport(srcOs));
        silentTarget(true);
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("failed");
        assertTrue(src.info().errorDesc().startsWith("the migration channel closed before the target answered")
                        || src.info().errorDesc().startsWith("sending the migration stream failed"),
                "a lost channel fails the migration: " + src.info().errorDesc());
        assertResumable(src);
    }

    @Test
    void aStreamThatBreaksBeforeAnyFdArrivedIsNotReportedAsALostDevice() throws Exception {
        PathTransport tgtTransport = new PathTransport(tgtOs);
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, new RecordingVhostBackend(), TIMEOUTS);
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        // a peer that sends a header and goes away: no section, no fd (a rogue peer, or a source that died early)
        FrameChannel ch = new PathTransport(srcOs).connect(new MigrationUri.Unix("/run/livetap/rollback.sock"))
                .toCompletableFuture().get(5, TimeUnit.SECONDS);
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "rogue", "pc-q35-11.0"));
        ch.send(enc.header().payload(), List.of()).toCompletableFuture().get(5, TimeUnit.SECONDS);
        ch.close();
        tgt.awaitMigrationStatus("failed");
        String desc = tgt.info().errorDesc();
        assertTrue(desc.startsWith(MigrationCoordinator.NOTHING_RECEIVED), "no fd arrived, so no device was lost here: " + desc);
        assertFalse(desc.contains("device is lost"), desc);
        assertEquals(0, tgtOs.ledger().open(), "the target holds nothing");
    }

    @Test
    void aTargetWhoseSourceDiesMidStreamReportsTheDeviceLostAndClosesTheFds() throws Exception {
        PathTransport tgtTransport = new PathTransport(tgtOs);
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, new RecordingVhostBackend(), TIMEOUTS);
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        // a stand-in source: header and the NIC's section with 4 real queue fds, then it dies
        FrameChannel ch = new PathTransport(srcOs).connect(new MigrationUri.Unix("/run/livetap/rollback.sock"))
                .toCompletableFuture().get(5, TimeUnit.SECONDS);
        List<OwnedFd> fds = srcOs.tun().openQueues("tap0", 4, TunFlags.TAP_VNET_MQ);
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "dying-source", "pc-q35-11.0"));
        ch.send(enc.header().payload(), List.of());
        Frame section = enc.section(nicSection(fds));
        ch.send(section.payload(), section.fds()).toCompletableFuture().get(5, TimeUnit.SECONDS);
        OwnedFd.closeAll(fds); // the channel duplicated them; the "source" process now dies
        ch.close();
        tgt.awaitMigrationStatus("failed");
        assertEquals(MigrationCoordinator.DEVICE_LOST, tgt.info().errorDesc().substring(0,
                MigrationCoordinator.DEVICE_LOST.length()), "the target reports the device lost: " + tgt.info().errorDesc());
        assertTrue(tgt.info().errorDesc().contains("closing its fds destroys a non-persistent TAP"));
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (tgtOs.ledger().open() != 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(0, tgtOs.ledger().open(), "the target closed every fd it received: " + tgtOs.describeOpenFds());
        assertTrue(kernel.tapDevices().isEmpty(), "with every fd closed, the non-persistent TAP is gone");
        assertEquals("inmigrate", tgt.runState(), "a failed target never runs");
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    /** A transport whose accept the test completes (or not); it records the call. */
    private static final class HeldAccept implements MigrationTransport {
        final CompletableFuture<FrameChannel> accept = new CompletableFuture<>();
        final CompletableFuture<Void> asked = new CompletableFuture<>();

        @Override
        public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
            return new CompletableFuture<>();
        }

        @Override
        public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
            asked.complete(null);
            return accept;
        }
    }

    /** A channel that only counts its closes. */
    private static final class CountingChannel implements FrameChannel {
        final java.util.concurrent.atomic.AtomicInteger closes = new java.util.concurrent.atomic.AtomicInteger();

        @Override
        public CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds) {
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public void start(FrameHandler handler) {
        }

        @Override
        public void pauseReading() {
        }

        @Override
        public void resumeReading() {
        }

        @Override
        public dev.livetap.nativeio.PeerCredentials peerCredentials() {
            return new dev.livetap.nativeio.PeerCredentials(1, 0, 0);
        }

        @Override
        public boolean isOpen() {
            return closes.get() == 0;
        }

        @Override
        public void close() {
            closes.incrementAndGet();
        }
    }

    private Endpoint waitingTarget(HeldAccept transport) throws Exception {
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, transport, true, false, new RecordingVhostBackend(), TIMEOUTS);
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        transport.asked.get(5, TimeUnit.SECONDS);
        return tgt;
    }

    /** A target that gives up waiting for the source stops its transport's accept (the listener goes at once). */
    @Test
    void aTargetThatGivesUpWaitingCancelsTheAccept() throws Exception {
        HeldAccept transport = new HeldAccept();
        Endpoint tgt = waitingTarget(transport);
        time.timePasses(Duration.ofSeconds(2));
        tgt.awaitMigrationStatus("failed");
        assertTrue(tgt.info().errorDesc().startsWith("waiting for the source to connect at " + URI), tgt.info().errorDesc());
        assertTrue(transport.accept.isCancelled(), "the failed target cancelled the accept it no longer waits for");
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    /**
     * Chaos finding: SIGSTOP of the target before {@code migrate}, SIGCONT after the source gave up.
     * The channel timeout and the accept fire together; the accepted channel's {@code Connected}
     * queues behind the {@code Timeout}, so the failed target used to ignore it and keep the
     * connected socket open. Either order must close it: the coordinator closes a channel that was
     * accepted before it cancelled, the transport one accepted after (as the engine's transport does).
     */
    @Test
    void aConnectionAcceptedAsTheTargetGivesUpIsClosed() throws Exception {
        HeldAccept transport = new HeldAccept();
        Endpoint tgt = waitingTarget(transport);
        CountingChannel late = new CountingChannel();
        time.timePasses(Duration.ofSeconds(2)); // the Timeout is in the coordinator's mailbox now
        if (!transport.accept.complete(late)) {
            late.close(); // the coordinator cancelled first: the transport closes what it accepted
        }
        tgt.awaitMigrationStatus("failed");
        assertEquals(List.of("setup", "failed"), tgt.migrationStatuses(), "the late channel was never adopted");
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (late.closes.get() == 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(1, late.closes.get(), "the channel accepted as the target gave up is closed, once");
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    /**
     * Chaos finding: a target frozen (SIGSTOP) during the migration; the source timed out waiting
     * for 'loaded', said 'failed', rolled back and resumed. Woken up, the target found the whole
     * stream and that answer in its socket. The stream's reader read the answer ahead and dropped
     * it, and the target's own 'loaded' failed with EPIPE, which closed the channel: the target took
     * the close for the source's death and completed (paused, claiming the TAP the source reads
     * again). It must read the answer and discard what it loaded.
     */
    @Test
    void aTargetThatFindsTheSourcesFailedBehindTheStreamDiscards() throws Exception {
        HeldAccept transport = new HeldAccept();
        Endpoint tgt = waitingTarget(transport);
        java.nio.file.Path path = java.nio.file.Path.of("/run/livetap/frozen.sock");
        OwnedFd listener = tgtOs.unix().listen(path, 0600);
        OwnedFd srcSocket = srcOs.unix().connect(path);
        OwnedFd tgtSocket = tgtOs.unix().accept(listener);
        listener.close();
        tgtOs.unix().unlinkSocket(path);
        // the source: the whole stream with 4 real queue fds, its 'failed' (it gave up waiting), then it goes
        FrameChannel src = dev.livetap.nativeio.UnixFrameChannel.open(srcOs, srcSocket, dev.livetap.nativeio.ChannelLimits.DEFAULT);
        List<OwnedFd> fds = srcOs.tun().openQueues("tap0", 4, TunFlags.TAP_VNET_MQ);
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(1, "gave-up-source", "pc-q35-11.0"));
        List<CompletableFuture<Void>> sent = new ArrayList<>();
        sent.add(src.send(enc.header().payload(), List.of()).toCompletableFuture());
        Frame section = enc.section(nicSection(fds));
        sent.add(src.send(section.payload(), section.fds()).toCompletableFuture());
        for (Frame f : enc.trailer()) {
            sent.add(src.send(f.payload(), List.of()).toCompletableFuture());
        }
        sent.add(src.send(ReturnPath.failed("waiting for the target's answer (return path) took longer than 3000 ms"), List.of())
                .toCompletableFuture());
        CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).get(5, TimeUnit.SECONDS);
        OwnedFd.closeAll(fds); // the source's own copies are not part of this test: the channel duplicated them
        src.close();
        // the frozen target wakes up: everything is already in its socket
        transport.accept.complete(dev.livetap.nativeio.UnixFrameChannel.open(tgtOs, tgtSocket, dev.livetap.nativeio.ChannelLimits.DEFAULT));
        tgt.awaitMigrationStatus("failed");
        assertTrue(tgt.info().errorDesc().startsWith("the source gave up"), "the target heard the source's answer: "
                + tgt.info().errorDesc() + " (statuses " + tgt.migrationStatuses() + ")");
        assertTrue(tgt.info().errorDesc().contains("took longer than 3000 ms"), "with its reason: " + tgt.info().errorDesc());
        assertEquals("inmigrate", tgt.runState(), "a target whose source rolled back never runs");
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (tgtOs.ledger().open() != 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(0, tgtOs.ledger().open(), "the target closed every fd it received: " + tgtOs.describeOpenFds());
        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
    }

    static Section nicSection(List<OwnedFd> fds) {
        List<Schema> peers = Collections.nCopies(fds.size(), NetTapSchema.SCHEMA);
        Schema schema = VirtioNetSchema.schema(peers);
        Schema guest = schema.field("guest").schema();
        StateStruct g = guest.newStruct().setBytes("mac", Frames.GUEST_MAC.toBytes()).setUint("ip", 0x0A000002L);
        List<StateStruct> states = new ArrayList<>();
        for (OwnedFd fd : fds) {
            states.add(NetTapSchema.SCHEMA.newStruct().setFd("fd", fd).setBool("using_vnet_hdr", true)
                    .setBool("enabled", true).setUint("host_vnet_hdr_len", 10));
        }
        Schema nic = schema.subsections().get(0).schema();
        StateStruct s = schema.newStruct().setBytes("mac", Frames.GUEST_MAC.toBytes()).setUint("max_queue_pairs", fds.size())
                .setUint("curr_queue_pairs", fds.size()).setStruct("guest", g)
                .setSubsection(nic.newStruct().setUint("peers_len", fds.size()).setArray("peers", states));
        return Section.of(VirtioNetSchema.sectionName("nic0"), 0, s);
    }

    private void awaitReceived(int frames) {
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (received.size() < frames && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(frames, received.size(), "the stand-in target received the whole stream");
    }
}
