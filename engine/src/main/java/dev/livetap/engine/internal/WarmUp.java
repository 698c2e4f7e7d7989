package dev.livetap.engine.internal;

import dev.livetap.actors.RoutineLog;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.Cancellable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The warm-up of {@link EngineCore#warmUp()}: in-memory migrations of a 4-queue NIC with
 * backend transfer (actors, codec, Pekko Streams, the transport's accept path) and real
 * fd-carrying frames over a kernel socketpair (JNA sendmsg/recvmsg, the reactor), repeated within
 * a time budget of about 1.5 s. Every wait is
 * bounded; a failed step is reported, never thrown: a cold process is slower, not broken.
 */
public final class WarmUp {
    private static final Logger LOG = LoggerFactory.getLogger(WarmUp.class);
    private static final Duration STEP = Duration.ofSeconds(10);
    /** In-memory migrations of a 4-queue NIC, as many as fit in {@link #BUDGET} (at least one). */
    private static final int MIGRATIONS = 16;
    private static final int NATIVE_FRAMES = 32;
    private static final Duration BUDGET = Duration.ofMillis(1500);
    private static final int QUEUES = 4;
    private static final java.util.concurrent.atomic.AtomicInteger ROUND = new java.util.concurrent.atomic.AtomicInteger();

    /** What ran and how long it took; {@code failure} is empty when every step worked. */
    public record Report(long millis, boolean nativeFrame, boolean migration, String failure) {
        public boolean ok() {
            return nativeFrame && migration;
        }
    }

    private WarmUp() {
    }

    static Report run(EngineCore engine) {
        long start = System.nanoTime();
        StringBuilder failures = new StringBuilder();
        long budgetEnd = start + BUDGET.toNanos();
        boolean frame = false;
        try {
            frame = true;
            for (int i = 0; i < NATIVE_FRAMES && frame && System.nanoTime() < budgetEnd; i++) {
                frame = nativeFrame(engine.os());
            }
        } catch (RuntimeException | Error e) {
            frame = false;
            failures.append("native frame: ").append(e).append("; ");
        }
        boolean migration = false;
        try {
            migration = true;
            // several rounds: the first migration of a process runs interpreted code; the switch-over's
            // shared paths (mailboxes, codec, streams) get compiled over the next ones (profile-switchover.md)
            for (int i = 0; i < MIGRATIONS && migration && (i == 0 || System.nanoTime() < budgetEnd); i++) {
                migration = inMemoryMigration(engine);
            }
        } catch (RuntimeException e) {
            migration = false;
            failures.append("in-memory migration: ").append(e).append("; ");
        }
        Report r = new Report(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), frame, migration,
                failures.toString().trim());
        if (r.ok()) {
            LOG.info("warm-up done in {} ms", r.millis());
        } else {
            LOG.warn("warm-up incomplete after {} ms: {}", r.millis(), r.failure());
        }
        return r;
    }

    /** One frame with one fd from end a to end b of a socketpair, both ends on the process's reactor. */
    private static boolean nativeFrame(Os os) {
        if (!os.availability().unavailabilityCause().isEmpty()) {
            return false;
        }
        OwnedFd[] pair = os.unix().socketPair();
        OwnedFd[] passenger = os.unix().socketPair();
        FrameChannel a = UnixFrameChannel.open(os, pair[0], ChannelLimits.DEFAULT);
        FrameChannel b = UnixFrameChannel.open(os, pair[1], ChannelLimits.DEFAULT);
        CompletableFuture<Integer> got = new CompletableFuture<>();
        try {
            b.start(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame f) {
                    int n = f.fds().size();
                    f.close();
                    got.complete(n);
                }

                @Override
                public void onClosed(Throwable cause) {
                    got.completeExceptionally(cause == null ? new IllegalStateException("closed") : cause);
                }
            });
            a.send(new byte[] {1, 2, 3}, List.of(passenger[0])).toCompletableFuture().get(STEP.toMillis(),
                    TimeUnit.MILLISECONDS);
            return got.get(STEP.toMillis(), TimeUnit.MILLISECONDS) == 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (Exception e) {
            throw new IllegalStateException(e.toString(), e);
        } finally {
            a.close();
            b.close();
            passenger[0].close();
            passenger[1].close();
        }
    }

    private static boolean inMemoryMigration(EngineCore engine) {
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1)); // monotonic stamps of 0 mean "unknown"
        InMemoryOs srcOs = kernel.newProcess("warm-up-source");
        InMemoryOs tgtOs = kernel.newProcess("warm-up-target");
        PeerPolicy anyInMemory = new PeerPolicy(Set.of(0));
        Duration accept = Duration.ofSeconds(5);
        UnixMigrationTransport.Timer timer = (delay, task) -> {
            Cancellable c = engine.system().scheduler().scheduleOnce(delay, task, engine.system().executionContext());
            return c::cancel;
        };
        UnixMigrationTransport srcT = new UnixMigrationTransport(srcOs,
                UnixMigrationTransport.Settings.defaults(accept).withPeerPolicy(anyInMemory), timer);
        UnixMigrationTransport tgtT = new UnixMigrationTransport(tgtOs,
                UnixMigrationTransport.Settings.defaults(accept).withPeerPolicy(anyInMemory), timer);
        InMemoryReactorDriver driver = new InMemoryReactorDriver("livetap-warm-up-reactors", () -> { }, srcOs, tgtOs);
        String tag = "warmup" + ROUND.incrementAndGet();
        EndpointCore src = null;
        EndpointCore tgt = null;
        try {
            src = engine.createVm(VmSpec.of(tag + "-src"), srcOs, srcT, RoutineLog.WARM_UP);
            tgt = engine.createVm(VmSpec.of(tag + "-tgt").incoming(true), tgtOs, tgtT, RoutineLog.WARM_UP);
            await(src.netdevAdd(Map.of("id", "net0", "ifname", "warm0", "queues", QUEUES)));
            await(src.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0",
                    "mac", "52:54:00:00:00:01")));
            await(tgt.netdevAdd(Map.of("id", "net0", "ifname", "warm0", "queues", QUEUES, "incoming-fds", true,
                    "script", "no", "downscript", "no")));
            await(tgt.deviceAdd(Map.of("driver", "virtio-net-pci", "id", "nic0", "netdev", "net0",
                    "mac", "52:54:00:00:00:01")));
            String uri = "unix:/livetap-warm-up/" + tag + ".sock";
            await(tgt.setParameters(Map.of("local", true))); // semantic 1: on both sides, the target's before migrate-incoming
            await(tgt.migrateIncoming(uri));
            await(src.setParameters(Map.of("local", true)));
            long deadline = System.nanoTime() + STEP.toNanos();
            while (tgtT.pendingAccepts() == 0 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(500_000);
            }
            await(src.migrate(uri));
            while (System.nanoTime() < deadline) {
                MigrationInfo i = await(tgt.query());
                // both sides done: closing the source before its role has reported would cut it off mid-message
                if (i.status() == MigrationStatus.COMPLETED
                        && Boolean.TRUE.equals(await(tgt.status()).get("running"))
                        && await(src.query()).status() == MigrationStatus.COMPLETED) {
                    return true;
                }
                if (i.status() == MigrationStatus.FAILED) {
                    throw new IllegalStateException("warm-up migration failed: " + i.errorDesc());
                }
                LockSupport.parkNanos(1_000_000);
            }
            throw new IllegalStateException("warm-up migration did not complete within " + STEP.toMillis() + " ms");
        } finally {
            if (src != null) {
                src.close();
            }
            if (tgt != null) {
                tgt.close();
            }
            srcT.close();
            tgtT.close();
            driver.close();
        }
    }

    private static <T> T await(java.util.concurrent.CompletionStage<T> s) {
        try {
            return s.toCompletableFuture().get(STEP.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(String.valueOf(e.getCause()), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("warm-up step timed out", e);
        }
    }
}
