package dev.livetap.engine.internal;

import dev.livetap.engine.api.LivetapException;
import dev.livetap.engine.api.VmSpec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The code docs/embedding.md shows, compiled and run. In production each engine is
 * {@code EngineCore.create()} on the kernel in its own process; here two in-memory
 * processes stand in for them so that the example runs anywhere.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EmbeddingExampleTest {
    @Test
    void migrateANicWithItsTapBetweenTwoEngines() throws Exception {
        int owned = OwnedFd.openCount();
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs os1 = kernel.newProcess("vmm-1");
        InMemoryOs os2 = kernel.newProcess("vmm-2");
        EngineSettings settings = EngineSettings.defaults()
                .withTimeouts(new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(10),
                        Duration.ofSeconds(5)))
                .withMigrationPeers(new PeerPolicy(Set.of(0)));
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os1, os2);
                EngineCore sourceEngine = EngineCore.create(settings.withOs(os1).withSystemName("vmm1"));
                EngineCore targetEngine = EngineCore.create(settings.withOs(os2).withSystemName("vmm2"))) {
            // tag::embedding[]
            // source: a running VM with a 4-queue TAP and a virtio-net NIC (QEMU: -netdev tap,... -device virtio-net-pci,...)
            EndpointCore source = sourceEngine.createVm(VmSpec.of("web1"));
            source.netdevAdd(TapNetdevOptions.parse("tap,id=net0,ifname=tap0,queues=4")).toCompletableFuture().join();
            source.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true,
                    "mac", "52:54:00:12:34:56")).toCompletableFuture().join();

            // target (another process in production): -incoming, its TAP waits for the source's queue fds
            targetEngine.warmUp(); // before the switch-over: class loading, JNA, first stream
            EndpointCore target = targetEngine.createVm(VmSpec.of("web1").incoming(true));
            target.netdevAdd(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true))
                    .toCompletableFuture().join();
            target.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true,
                    "mac", "52:54:00:12:34:56")).toCompletableFuture().join();

            List<VmEvent> events = new CopyOnWriteArrayList<>();
            source.subscribe(events::add).toCompletableFuture().join();

            String uri = "unix:/run/livetap/web1-incoming.sock";
            target.setParameters(Map.of("local", true)).toCompletableFuture().join();
            target.migrateIncoming(uri).toCompletableFuture().join();
            // end::embedding[]
            UnixMigrationTransport tt = (UnixMigrationTransport) targetEngine.transport();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (tt.pendingAccepts() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            // tag::embedding-migrate[]
            source.setParameters(Map.of("local", true)).toCompletableFuture().join();
            source.migrate(uri).toCompletableFuture().join();

            MigrationInfo done = source.query().toCompletableFuture().join();
            while (done.status() != MigrationStatus.COMPLETED && done.status() != MigrationStatus.FAILED) {
                Thread.sleep(2); // or react to MIGRATION events from subscribe()
                done = source.query().toCompletableFuture().join();
            }
            MigrationInfo resumed = target.query().toCompletableFuture().join();
            while (resumed.targetStartedNanos() == 0) {
                Thread.sleep(2);
                resumed = target.query().toCompletableFuture().join();
            }
            double downtimeMs = (resumed.targetStartedNanos() - done.sourceStoppedNanos()) / 1e6;

            // errors carry QMP's class and description
            CompletionException e = assertThrows(CompletionException.class,
                    () -> source.netdevDel("nope").toCompletableFuture().join());
            LivetapException refused = LivetapException.unwrap(e);
            // refused.errorClass() is "DeviceNotFound", refused.desc() is "Device 'nope' not found"
            // end::embedding-migrate[]
            assertEquals(MigrationStatus.COMPLETED, done.status(), String.valueOf(done));
            assertTrue(downtimeMs >= 0, "downtime from the monotonic stamps: " + downtimeMs);
            assertEquals("DeviceNotFound", refused.errorClass());
            assertEquals("Device 'nope' not found", refused.desc());
            assertTrue(events.stream().anyMatch(ev -> ev.event().equals(VmEvent.MIGRATION)
                    && "completed".equals(ev.data().get("status"))), "the listener saw MIGRATION completed: " + events);
            assertEquals("running", target.status().toCompletableFuture().join().get("status"));
        }
        assertEquals(owned, OwnedFd.openCount(), "closing the engines closes every fd");
    }
}
