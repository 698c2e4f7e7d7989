package dev.livetap.engine.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The meters of two engines move as a migration between them fails, holds, and completes. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LivetapMetricsTest {
    private static final String URI = "unix:/run/livetap/metrics-test.sock";

    @Test
    void theMetersFollowAFailedAHeldAndACompletedMigration() throws Exception {
        int owned = OwnedFd.openCount();
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs os1 = kernel.newProcess("vmm-1");
        InMemoryOs os2 = kernel.newProcess("vmm-2");
        SimpleMeterRegistry sourceMeters = new SimpleMeterRegistry();
        SimpleMeterRegistry targetMeters = new SimpleMeterRegistry();
        EngineSettings settings = EngineSettings.defaults()
                .withTimeouts(new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(10),
                        Duration.ofSeconds(5)))
                .withMigrationPeers(new PeerPolicy(Set.of(0)));
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os1, os2);
                EngineCore sourceEngine = EngineCore.create(settings.withOs(os1).withSystemName("vmm1")
                        .withMeterRegistry(sourceMeters));
                EngineCore targetEngine = EngineCore.create(settings.withOs(os2).withSystemName("vmm2")
                        .withMeterRegistry(targetMeters))) {
            targetEngine.warmUp();
            assertEquals(0, sourceMeters.find(LivetapMetrics.MIGRATIONS).counters().size() + targetMeters
                    .find(LivetapMetrics.MIGRATIONS).counters().size(), "the warm-up's migration is not counted");
            EndpointCore source = sourceEngine.createVm(VmSpec.of("web1"));
            source.netdevAdd(TapNetdevOptions.parse("tap,id=net0,ifname=tap0,queues=4")).toCompletableFuture().join();
            source.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true))
                    .toCompletableFuture().join();
            EndpointCore target = targetEngine.createVm(VmSpec.of("web1").incoming(true));
            target.netdevAdd(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                    "script", "no", "downscript", "no"))
                    .toCompletableFuture().join();
            target.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true))
                    .toCompletableFuture().join();
            source.setParameters(Map.of("local", true)).toCompletableFuture().join();
            target.setParameters(Map.of("local", true)).toCompletableFuture().join();
            await(() -> gauge(sourceMeters, LivetapMetrics.TAP_FDS) == 4, "the source's NIC holds its 4 TAP queue fds",
                    () -> gauge(sourceMeters, LivetapMetrics.TAP_FDS));

            source.migrate("unix:/nonexistent/metrics-test.sock").toCompletableFuture().join();
            await(() -> count(sourceMeters, "source", "failed", "setup") == 1,
                    "a migration nobody listens for fails in setup", () -> sourceMeters.getMetersAsString());
            assertEquals(0, gauge(sourceMeters, LivetapMetrics.IN_FLIGHT), "the failed migration is no longer in flight");

            source.setCapabilities(Map.of("pause-before-switchover", true)).toCompletableFuture().join();
            target.migrateIncoming(URI).toCompletableFuture().join();
            await(() -> gauge(targetMeters, LivetapMetrics.IN_FLIGHT) == 1, "the listening target is in flight",
                    () -> targetMeters.getMetersAsString());
            UnixMigrationTransport listening = (UnixMigrationTransport) targetEngine.transport();
            await(() -> listening.pendingAccepts() > 0, "the target listens", listening::pendingAccepts);
            source.migrate(URI).toCompletableFuture().join();
            await(() -> status(source) == MigrationStatus.PRE_SWITCHOVER, "the source holds before the switch-over",
                    () -> status(source));
            await(() -> gauge(sourceMeters, LivetapMetrics.IN_FLIGHT) == 1, "the held source is in flight",
                    () -> sourceMeters.getMetersAsString());
            assertEquals(0, timer(sourceMeters).count(), "no downtime before a switch-over");

            source.migrateContinue(MigrationStatus.PRE_SWITCHOVER).toCompletableFuture().join();
            await(() -> count(sourceMeters, "source", "completed", "device") == 1, "the source counts its completed migration",
                    () -> sourceMeters.getMetersAsString());
            await(() -> count(targetMeters, "target", "completed", "active") == 1, "the target counts its completed migration",
                    () -> targetMeters.getMetersAsString());
            await(() -> timer(sourceMeters).count() == 1, "one switch-over downtime recorded", () -> timer(sourceMeters));
            MigrationInfo info = source.query().toCompletableFuture().join();
            assertEquals(info.downtimeMs(), (long) timer(sourceMeters).totalTime(TimeUnit.MILLISECONDS),
                    "the histogram holds query-migrate's downtime");
            assertEquals(0, gauge(sourceMeters, LivetapMetrics.IN_FLIGHT) + gauge(targetMeters, LivetapMetrics.IN_FLIGHT),
                    "nothing in flight after the end");
            await(() -> gauge(sourceMeters, LivetapMetrics.TAP_FDS) == 0 && gauge(targetMeters, LivetapMetrics.TAP_FDS) == 4,
                    "the 4 TAP queue fds moved to the target", () -> gauge(sourceMeters, LivetapMetrics.TAP_FDS) + " / "
                            + gauge(targetMeters, LivetapMetrics.TAP_FDS));
            assertThrows(io.micrometer.core.instrument.search.MeterNotFoundException.class,
                    () -> sourceMeters.get(LivetapMetrics.MIGRATIONS).tags("role", "target").counter(),
                    "the source engine counts no target role");

            sourceEngine.metrics().orElseThrow().countQmpSessions(() -> 3);
            assertEquals(3, gauge(sourceMeters, LivetapMetrics.QMP_SESSIONS), "QMP sessions of the counted servers");
        }
        assertEquals(owned, OwnedFd.openCount(), "closing the engines closes every fd");
    }

    private static MigrationStatus status(EndpointCore vm) {
        return vm.query().toCompletableFuture().join().status();
    }

    private static double count(MeterRegistry r, String role, String outcome, String phase) {
        Counter c = r.find(LivetapMetrics.MIGRATIONS).tags("role", role, "outcome", outcome, "phase", phase).counter();
        return c == null ? 0 : c.count();
    }

    private static double gauge(MeterRegistry r, String name) {
        return r.find(name).gauges().stream().mapToDouble(g -> g.value()).sum();
    }

    private static Timer timer(MeterRegistry r) {
        return r.get(LivetapMetrics.DOWNTIME).timer();
    }

    private static void await(Supplier<Boolean> condition, String what, Supplier<Object> seen) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.get()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " (within 10 s); seen: " + seen.get());
            }
            Thread.sleep(5);
        }
    }
}
