package dev.livetap.engine.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The typed API end to end on two in-memory processes: a migration followed through its handle,
 * events through the listener and the {@code Source}, a cancelled migration, a refused one, TAP
 * queue fds handed in by number; once with engines that own their ActorSystem and once inside an
 * embedder's ActorSystem, which must still run after both engines closed.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EmbeddingApiTest {
    private static final Duration T = Duration.ofSeconds(20);

    /** Two in-memory engines' settings: short migration timeouts, peers of process 0 (StreamFormatPinTest too). */
    static EngineSettings settings(InMemoryOs os, String name) {
        return EngineSettings.defaults().withOs(os).withSystemName(name)
                .withTimeouts(new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(10),
                        Duration.ofSeconds(5)))
                .withMigrationPeers(new PeerPolicy(Set.of(0)));
    }

    @Test
    void enginesWithTheirOwnActorSystems() throws Exception {
        int owned = OwnedFd.openCount();
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs os1 = kernel.newProcess("vmm-1");
        InMemoryOs os2 = kernel.newProcess("vmm-2");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os1, os2);
                LivetapEngine source = LivetapEngine.wrap(EngineCore.create(settings(os1, "own1")));
                LivetapEngine target = LivetapEngine.wrap(EngineCore.create(settings(os2, "own2")))) {
            assertTrue(source.ownsActorSystem());
            scenario(source, target, source.actorSystem());
        }
        assertEquals(owned, OwnedFd.openCount(), "closing the engines closes every fd");
    }

    @Test
    void enginesInsideAnEmbeddersActorSystemLeaveItRunning() throws Exception {
        int owned = OwnedFd.openCount();
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs os1 = kernel.newProcess("vmm-1");
        InMemoryOs os2 = kernel.newProcess("vmm-2");
        ActorSystem<String> embedder = ActorSystem.create(Behaviors.receive(String.class)
                .onMessage(String.class, m -> Behaviors.same()).build(), "control-plane");
        try {
            try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os1, os2);
                    LivetapEngine source = LivetapEngine.wrap(EngineCore.inSystem(settings(os1, "x1"), embedder));
                    LivetapEngine target = LivetapEngine.wrap(EngineCore.inSystem(settings(os2, "x2"), embedder))) {
                assertFalse(source.ownsActorSystem());
                assertTrue(source.actorSystem() == embedder, "the engine runs in the embedder's system");
                scenario(source, target, embedder);
            }
            assertEquals(owned, OwnedFd.openCount(), "closing the engines closes every fd");
            assertFalse(embedder.getWhenTerminated().toCompletableFuture().isDone(), "the borrowed system still runs");
            // and still works: a fresh actor answers an ask
            var echo = embedder.systemActorOf(Behaviors.<org.apache.pekko.actor.typed.ActorRef<String>>receive(
                    (ctx, replyTo) -> {
                        replyTo.tell("alive");
                        return Behaviors.same();
                    }), "echo", org.apache.pekko.actor.typed.Props.empty());
            String answer = AskPattern.<org.apache.pekko.actor.typed.ActorRef<String>, String>ask(echo, r -> r,
                    Duration.ofSeconds(5), embedder.scheduler()).toCompletableFuture().get(5, TimeUnit.SECONDS);
            assertEquals("alive", answer);
        } finally {
            embedder.terminate();
            embedder.getWhenTerminated().toCompletableFuture().get(15, TimeUnit.SECONDS);
        }
    }

    private static void scenario(LivetapEngine sourceEngine, LivetapEngine targetEngine, ActorSystem<?> materializer)
            throws Exception {
        VirtualMachine source = sourceEngine.createVm(VmSpec.of("web1"));
        join(source.netdevAdd(TapNetdev.named("net0").ifname("tap0").queues(4)));
        join(source.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true).mac("52:54:00:12:34:56")));
        join(source.setParameters(MigrationParameterUpdate.none().local(true)));
        assertEquals(new MigrationParameters(true, 300, 0), join(source.parameters()));

        List<VmEvent> heard = new CopyOnWriteArrayList<>();
        Subscription listening = join(source.subscribe(heard::add));
        CompletableFuture<List<VmEvent>> streamed = source.events()
                .takeWhile(e -> !(e instanceof VmEvent.MigrationStatusChanged c && c.status() == MigrationStatus.COMPLETED), true)
                .runWith(Sink.seq(), materializer).toCompletableFuture();

        // 1: held before the switch-over, then cancelled: the source keeps its TAP
        join(source.setCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER, true));
        assertEquals(Set.of(MigrationCapability.PAUSE_BEFORE_SWITCHOVER), join(source.capabilities()));
        VirtualMachine target1 = incoming(targetEngine, "web1a");
        MigrationHandle held = source.migrate("unix:/run/livetap/web1a.sock");
        join(held.accepted());
        long deadline = System.nanoTime() + T.toNanos();
        while (join(source.migrationInfo()).status() != MigrationStatus.PRE_SWITCHOVER && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        join(held.cancel());
        MigrationOutcome cancelled = join(held.outcome());
        assertInstanceOf(MigrationOutcome.Cancelled.class, cancelled, String.valueOf(cancelled));
        assertEquals(MigrationPhase.PRE_SWITCHOVER, ((MigrationOutcome.Cancelled) cancelled).phase());
        assertEquals(4, join(source.nics()).get(0).queues().stream().filter(NicInfo.QueueInfo::ownsResource).count(),
                "a cancelled migration leaves the source its four queue fds");
        join(source.setCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER, false));
        join(source.cont());

        // 2: refused at once: accepted() and outcome() fail with QMP's error, cancel() sends nothing
        MigrationHandle refused = source.migrate("tcp:127.0.0.1:4444");
        LivetapException why = LivetapException.unwrap(assertThrows(CompletionException.class, () -> join(refused.accepted())));
        assertNotNull(why);
        assertEquals(why, LivetapException.unwrap(assertThrows(CompletionException.class, () -> join(refused.outcome()))));
        join(refused.cancel());

        // 3: completed
        VirtualMachine target2 = incoming(targetEngine, "web1b");
        MigrationHandle migration = source.migrate("unix:/run/livetap/web1b.sock");
        join(migration.accepted());
        MigrationOutcome done = join(migration.outcome());
        assertInstanceOf(MigrationOutcome.Completed.class, done, String.valueOf(done));
        assertEquals(MigrationStatus.COMPLETED, done.info().status());
        assertEquals(RunState.POSTMIGRATE, join(source.status()).runState());
        deadline = System.nanoTime() + T.toNanos();
        while (join(target2.status()).runState() != RunState.RUNNING && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertEquals(new VmStatus(true, RunState.RUNNING), join(target2.status()));
        MigrationInfo resumed = join(target2.migrationInfo());
        assertTrue(resumed.targetStartedNanos() >= done.info().sourceStoppedNanos(), resumed + " / " + done);
        // after completed, cancel changes nothing
        join(migration.cancel());
        assertEquals(MigrationStatus.COMPLETED, join(source.migrationInfo()).status());
        assertEquals(RunState.POSTMIGRATE, join(source.status()).runState());

        List<VmEvent> fromSource = streamed.get(T.toMillis(), TimeUnit.MILLISECONDS);
        List<MigrationStatus> statuses = fromSource.stream().filter(VmEvent.MigrationStatusChanged.class::isInstance)
                .map(e -> ((VmEvent.MigrationStatusChanged) e).status()).toList();
        assertTrue(statuses.containsAll(List.of(MigrationStatus.SETUP, MigrationStatus.PRE_SWITCHOVER,
                MigrationStatus.CANCELLING, MigrationStatus.CANCELLED, MigrationStatus.DEVICE, MigrationStatus.COMPLETED)),
                "the Source saw both migrations: " + statuses);
        assertTrue(fromSource.stream().anyMatch(VmEvent.Stopped.class::isInstance), "STOP as Stopped: " + fromSource);
        assertTrue(heard.containsAll(fromSource), "the listener heard what the Source streamed");
        listening.close();
        target1.close();

        // errors carry QMP's class and description
        LivetapException missing = LivetapException.unwrap(assertThrows(CompletionException.class,
                () -> join(source.netdevDel("nope"))));
        assertEquals("DeviceNotFound", missing.errorClass());
        assertEquals("Device 'nope' not found", missing.desc());
    }

    private static VirtualMachine incoming(LivetapEngine engine, String name) throws Exception {
        VirtualMachine target = engine.createVm(VmSpec.of(name).incoming(true));
        join(target.netdevAdd(TapNetdev.named("net0").ifname("tap0").queues(4).incomingFds(true)
                .script("no").downscript("no")));
        join(target.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true).mac("52:54:00:12:34:56")));
        join(target.setParameters(MigrationParameterUpdate.none().local(true)));
        UnixMigrationTransport t = (UnixMigrationTransport) engine.core().transport();
        int before = t.pendingAccepts();
        join(target.migrateIncoming("unix:/run/livetap/" + name + ".sock"));
        long deadline = System.nanoTime() + T.toNanos();
        while (t.pendingAccepts() == before && System.nanoTime() < deadline) {
            Thread.sleep(1); // until migrate-incoming answers only once it listens (issue 16, h14)
        }
        return target;
    }

    @Test
    void tapQueueFdsHandedInByNumberBelongToTheVm() throws Exception {
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs os = kernel.newProcess("vmm-fds");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os);
                LivetapEngine engine = LivetapEngine.wrap(EngineCore.create(settings(os, "fds")))) {
            VirtualMachine vm = engine.createVm(VmSpec.of("passed"));
            // opened elsewhere (a helper in the VM's namespace), known here only by number
            List<OwnedFd> opened = os.tun().openQueues("tapfd0", 2, TunFlags.TAP_VNET_MQ);
            int tableBefore = os.fds().countProcessFds();
            join(vm.netdevAdd(TapNetdev.named("net0"), List.of(opened.get(0).fd(), opened.get(1).fd())));
            join(vm.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true)));
            NicInfo nic = join(vm.nics()).get(0);
            assertEquals(2, nic.queuePairs());
            assertTrue(nic.queues().stream().allMatch(NicInfo.QueueInfo::ownsResource), String.valueOf(nic));
            assertEquals(tableBefore, os.fds().countProcessFds(), "the VM uses the very descriptors, no copies");
            vm.close();
            assertEquals(tableBefore - 2, os.fds().countProcessFds(), "stopping the VM closed the handed-in fds");

            VirtualMachine other = engine.createVm(VmSpec.of("refused"));
            LivetapException bad = LivetapException.unwrap(assertThrows(CompletionException.class,
                    () -> join(other.netdevAdd(TapNetdev.named("net1"), List.of(9999)))));
            assertTrue(bad.desc().contains("EBADF"), bad.desc());
        }
    }

    private static <T> T join(java.util.concurrent.CompletionStage<T> s) {
        try {
            return s.toCompletableFuture().get(T.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new CompletionException(e.getCause());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
