package dev.livetap.examples.controlplane;

import dev.livetap.engine.api.LivetapEngine;
import dev.livetap.engine.api.MigrationCapability;
import dev.livetap.engine.api.MigrationHandle;
import dev.livetap.engine.api.MigrationOutcome;
import dev.livetap.engine.api.MigrationParameterUpdate;
import dev.livetap.engine.api.MigrationStatus;
import dev.livetap.engine.api.Subscription;
import dev.livetap.engine.api.TapNetdev;
import dev.livetap.engine.api.VirtioNetDevice;
import dev.livetap.engine.api.VirtualMachine;
import dev.livetap.engine.api.VmEvent;
import dev.livetap.engine.api.VmSpec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * A control plane embedding livetap: two VM endpoints in one engine, a migration held before its
 * switch-over and cancelled, then one that completes, observed through the events {@code Source}
 * and the {@link MigrationHandle}. Run it as root inside a fresh network namespace (it creates
 * the TAP {@code tap0}): {@code scripts/example} does. docs/embedding.md shows this code; a test
 * of the livetap build fails if the two drift apart.
 */
public final class ControlPlaneExample {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private ControlPlaneExample() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("livetap-example");
        // tag::engine[]
        SimpleMeterRegistry registry = new SimpleMeterRegistry(); // or your application's registry
        try (LivetapEngine engine = LivetapEngine.builder().askTimeout(Duration.ofSeconds(15))
                .meterRegistry(registry).build()) {
            engine.warmUp(); // before the switch-over: class loading, JNA, the first stream

            // the source: a running VM with a 4-queue TAP and a virtio-net NIC
            VirtualMachine source = engine.createVm(VmSpec.of("web1"));
            join(source.netdevAdd(TapNetdev.named("net0").ifname("tap0").queues(4)));
            join(source.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true).mac("52:54:00:12:34:56")));
            join(source.setParameters(MigrationParameterUpdate.none().local(true)));
            // end::engine[]

            // tag::events[]
            // every event of the source until its migration completes, through a Pekko Streams Source
            CompletionStage<List<VmEvent>> events = source.events()
                    .takeWhile(e -> !(e instanceof VmEvent.MigrationStatusChanged c
                            && c.status() == MigrationStatus.COMPLETED), true)
                    .runWith(Sink.seq(), engine.actorSystem());
            // end::events[]

            // tag::cancel[]
            // a migration held before its switch-over, then cancelled: the source keeps its TAP
            join(source.setCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER, true));
            VirtualMachine first = target(engine, "web1-a", dir);
            CompletableFuture<Void> held = new CompletableFuture<>();
            Subscription watch = join(source.subscribe(e -> {
                if (e instanceof VmEvent.MigrationStatusChanged c && c.status() == MigrationStatus.PRE_SWITCHOVER) {
                    held.complete(null);
                }
            }));
            MigrationHandle cancelled = source.migrate("unix:" + dir.resolve("web1-a.sock"));
            held.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            join(cancelled.cancel());
            MigrationOutcome rolledBack = join(cancelled.outcome()); // Cancelled(PRE_SWITCHOVER, ...)
            watch.close();
            first.close();
            join(source.setCapability(MigrationCapability.PAUSE_BEFORE_SWITCHOVER, false));
            join(source.cont()); // a cancel in the pre-switchover hold leaves the source paused (docs/qmp.md)
            // end::cancel[]
            require(rolledBack instanceof MigrationOutcome.Cancelled, "cancelled: " + rolledBack);
            System.out.println("cancelled migration: " + rolledBack);

            // tag::migrate[]
            // the migration: the TAP queue fds travel to the target, which resumes by itself
            VirtualMachine target = target(engine, "web1-b", dir);
            CompletableFuture<VmEvent> resumed = new CompletableFuture<>();
            Subscription onTarget = join(target.subscribe(e -> {
                if (e instanceof VmEvent.Resumed) {
                    resumed.complete(e);
                }
            }));
            MigrationHandle migration = source.migrate("unix:" + dir.resolve("web1-b.sock"));
            join(migration.accepted()); // the migrate command's own answer
            MigrationOutcome outcome = join(migration.outcome());
            if (!(outcome instanceof MigrationOutcome.Completed done)) {
                throw new IllegalStateException("the migration did not complete: " + outcome);
            }
            long targetStarted = resumed.get(WAIT.toMillis(), TimeUnit.MILLISECONDS).atNanos();
            double downtimeMs = (targetStarted - done.info().sourceStoppedNanos()) / 1e6;
            onTarget.close();
            // after completed, cancel changes nothing (as QEMU's migrate_cancel)
            join(migration.cancel());
            // end::migrate[]

            List<VmEvent> seen = events.toCompletableFuture().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            System.out.println("completed migration: " + outcome);
            System.out.printf("downtime (source stop to target resume): %.3f ms%n", downtimeMs);
            System.out.println("source events through the Source: " + seen);
            require(seen.stream().anyMatch(e -> e instanceof VmEvent.MigrationStatusChanged c
                    && c.status() == MigrationStatus.CANCELLED), "the Source saw the cancel: " + seen);
            System.out.println("target: " + join(target.status()) + ", NICs " + join(target.nics()));
            System.out.println("source after: " + join(source.status()) + " " + join(source.migrationInfo()).status());
            // tag::metrics[]
            registry.getMeters().stream().filter(m -> m.getId().getName().startsWith("livetap."))
                    .forEach(m -> System.out.println("meter " + m.getId().getName() + " " + m.getId().getTags()
                            + " " + m.measure()));
            // end::metrics[]
            require(registry.find("livetap.migrations").tag("outcome", "completed").counter() != null,
                    "the registry counted the completed migration");
        }
        Files.deleteIfExists(dir);
        System.out.println("example: ok");
    }

    // tag::target[]
    /** An incoming VM whose TAP waits for the source's queue fds, listening at DIR/NAME.sock. */
    static VirtualMachine target(LivetapEngine engine, String name, Path dir) throws Exception {
        VirtualMachine target = engine.createVm(VmSpec.of(name).incoming(true));
        join(target.netdevAdd(TapNetdev.named("net0").ifname("tap0").queues(4).incomingFds(true)
                .script("no").downscript("no")));
        join(target.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true).mac("52:54:00:12:34:56")));
        join(target.setParameters(MigrationParameterUpdate.none().local(true)));
        join(target.migrateIncoming("unix:" + dir.resolve(name + ".sock"))); // completes once it listens
        return target;
    }
    // end::target[]

    static <T> T join(CompletionStage<T> stage) throws Exception {
        return stage.toCompletableFuture().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static void require(boolean fact, String what) {
        if (!fact) {
            throw new IllegalStateException("example: " + what);
        }
    }
}
