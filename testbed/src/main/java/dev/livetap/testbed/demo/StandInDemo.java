package dev.livetap.testbed.demo;

import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.testbed.demo.DemoSummary.Migration;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * The demo where real TAPs cannot be used (no root, no /dev/net/tun): the same A → B → C …
 * migrations with backend transfer between engines on the in-memory OS inside this JVM (one
 * in-memory process per VM). Its clock follows real time, so the downtimes are those of the
 * actors and the stream in one JVM; there is no TAP and no ping, so it reports no frame counts
 * and never claims to prove anything about the network.
 */
public final class StandInDemo {
    private static final Duration STEP = Duration.ofSeconds(30);

    /** The summary (without ping) and the error that stopped the run, if any. */
    public record Outcome(DemoSummary summary, String error) {
    }

    private StandInDemo() {
    }

    public static Outcome run(int queues, int migrations, Consumer<String> progress) {
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        List<InMemoryOs> processes = new CopyOnWriteArrayList<>();
        List<EngineCore> engines = new ArrayList<>();
        List<Migration> done = new ArrayList<>();
        EngineSettings settings = EngineSettings.defaults()
                .withTimeouts(new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(10),
                        Duration.ofSeconds(5)))
                .withMigrationPeers(new PeerPolicy(Set.of(0)));
        long base = kernel.clock().nanos();
        long t0 = System.nanoTime();
        // the shared clock moves with real time, so the coordinators' timers see time pass
        InMemoryReactorDriver driver = new InMemoryReactorDriver("livetap-standin-reactors",
                () -> kernel.clock().advanceTo(base + System.nanoTime() - t0), processes.toArray(new InMemoryOs[0]));
        String error = null;
        try {
            progress.accept("== stand-in backend transfer: in-memory processes, " + queues + "-queue in-memory TAP ==");
            EndpointCore source = vm(kernel, processes, engines, settings, 0, false);
            source.netdevAdd(TapNetdevOptions.parse("tap,id=net0,ifname=tap0,queues=" + queues)).toCompletableFuture()
                    .get(STEP.toSeconds(), TimeUnit.SECONDS);
            nic(source);
            for (int k = 1; k <= migrations; k++) {
                EndpointCore target = vm(kernel, processes, engines, settings, k, true);
                target.netdevAdd(Map.of("id", "net0", "ifname", "tap0", "queues", queues, "incoming-fds", true,
                        "script", "no", "downscript", "no"))
                        .toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                nic(target);
                String uri = "unix:/run/livetap/standin" + k + "-incoming.sock";
                target.setParameters(Map.of("local", true)).toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                target.migrateIncoming(uri).toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                UnixMigrationTransport tt = (UnixMigrationTransport) engines.get(k).transport();
                long deadline = System.nanoTime() + STEP.toNanos();
                while (tt.pendingAccepts() == 0 && System.nanoTime() < deadline) {
                    LockSupport.parkNanos(200_000);
                }
                source.setParameters(Map.of("local", true)).toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                source.migrate(uri).toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                MigrationInfo s = source.query().toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                while ((s.status() != MigrationStatus.COMPLETED && s.status() != MigrationStatus.FAILED) && System.nanoTime() < deadline) {
                    LockSupport.parkNanos(1_000_000);
                    s = source.query().toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                }
                MigrationInfo t = target.query().toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                while (s.status() == MigrationStatus.COMPLETED && t.targetStartedNanos() == 0 && System.nanoTime() < deadline) {
                    LockSupport.parkNanos(1_000_000);
                    t = target.query().toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
                }
                boolean ok = s.status() == MigrationStatus.COMPLETED && t.targetStartedNanos() > 0;
                double downtime = ok ? (t.targetStartedNanos() - s.sourceStoppedNanos()) / 1e6 : -1;
                String status = s.status().toString().toLowerCase(java.util.Locale.ROOT);
                done.add(new Migration(k, "standin" + (k - 1), "standin" + k, ok ? "completed" : status, downtime,
                        s.sourceStoppedNanos(), t.targetStartedNanos(), s.errorDesc()));
                progress.accept(String.format("  %2d/%d standin%d -> standin%d  %-9s downtime %s ms", k, migrations, k - 1, k,
                        ok ? "completed" : status, downtime < 0 ? "-" : String.format("%.3f", downtime)));
                if (!ok) {
                    error = "migration " + k + " did not complete: " + s.errorDesc();
                    break;
                }
                engines.get(k - 1).close();
                source = target;
            }
        } catch (Exception e) {
            error = e.toString();
        } finally {
            for (EngineCore e : engines) {
                try {
                    e.close();
                } catch (RuntimeException ignored) {
                    // already closed
                }
            }
            driver.close();
        }
        return new Outcome(new DemoSummary(DemoSummary.BACKEND_TRANSFER, done, null, List.of(), 0), error);
    }

    private static EndpointCore vm(InMemoryKernel kernel, List<InMemoryOs> processes, List<EngineCore> engines,
            EngineSettings settings, int k, boolean incoming) {
        InMemoryOs os = kernel.newProcess("standin" + k);
        processes.add(os);
        EngineCore engine = EngineCore.create(settings.withOs(os).withSystemName("standin" + k));
        engines.add(engine);
        if (incoming) {
            engine.warmUp();
        }
        return engine.createVm(VmSpec.of("web").incoming(incoming));
    }

    private static void nic(EndpointCore vm) throws Exception {
        vm.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0", "mq", true, "mac", DemoRun.MAC))
                .toCompletableFuture().get(STEP.toSeconds(), TimeUnit.SECONDS);
    }
}
