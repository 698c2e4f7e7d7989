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
 * The warm-up of {@link EngineCore#warmUp()}: {@value #MIGRATIONS} in-memory migrations of a 4-queue
 * NIC with backend transfer (actors, codec, Pekko Streams, the transport's accept path; driven by a
 * {@link MigrationDriver}: the API, or QMP in the VMM host) and real fd-carrying frames over a kernel
 * socketpair (JNA sendmsg/recvmsg, the reactor). A count, not a time: the VMM compiles livetap's code
 * after about ten calls, and a warm-up cut short by a busy machine left the first real migrations to
 * compile the rest (docs/benchmarks.md, "The warm-up: first migrations and READY"). Every wait is
 * bounded ({@link #BOUND} in all); a failed step is reported, never thrown: a cold process is slower,
 * not broken.
 */
public final class WarmUp {
    private static final Logger LOG = LoggerFactory.getLogger(WarmUp.class);
    private static final Duration STEP = Duration.ofSeconds(10);
    /** In-memory migrations of a 4-queue NIC: more than the ~10 calls after which the VMM compiles. */
    public static final int MIGRATIONS = 16;
    private static final int NATIVE_FRAMES = 32;
    /** The whole warm-up's bound: a machine too busy for it gets a shorter one (at least one migration). */
    private static final Duration BOUND = Duration.ofSeconds(8);
    private static final int QUEUES = 4;
    private static final java.util.concurrent.atomic.AtomicInteger ROUND = new java.util.concurrent.atomic.AtomicInteger();

    /** What ran and how long it took; {@code failure} is empty when every step worked. */
    public record Report(long millis, boolean nativeFrame, boolean migration, int migrations, String failure) {
        public boolean ok() {
            return nativeFrame && migration;
        }
    }

    private WarmUp() {
    }

    static Report run(EngineCore engine, MigrationDriver driver) {
        long start = System.nanoTime();
        StringBuilder failures = new StringBuilder();
        long boundEnd = start + BOUND.toNanos();
        boolean frame = false;
        try {
            frame = true;
            for (int i = 0; i < NATIVE_FRAMES && frame && System.nanoTime() < boundEnd; i++) {
                frame = nativeFrame(engine.os());
            }
        } catch (RuntimeException | Error e) {
            frame = false;
            failures.append("native frame: ").append(e).append("; ");
        }
        boolean migration = false;
        int done = 0;
        try {
            migration = true;
            // several rounds: the first migration of a process runs interpreted code; its paths (mailboxes,
            // codec, streams, QMP) get compiled over the next ones (profile-switchover.md)
            for (int i = 0; i < MIGRATIONS && migration && (i == 0 || System.nanoTime() < boundEnd); i++) {
                migration = inMemoryMigration(engine, driver);
                done += migration ? 1 : 0;
            }
        } catch (RuntimeException e) {
            migration = false;
            failures.append("in-memory migration: ").append(e).append("; ");
        }
        Report r = new Report(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), frame, migration,
                done, failures.toString().trim());
        if (r.ok()) {
            LOG.info("warm-up done in {} ms ({} migrations)", r.millis(), done);
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


    /** The two warmed endpoints of one warm-up migration, their NICs set up, nothing migrating yet. */
    public record Pair(String tag, EndpointCore source, EndpointCore target, Os sourceOs, Os targetOs,
            UnixMigrationTransport targetTransport, String uri, Duration step) {
        /** Waits (bounded by {@link #step}) until the target listens at {@link #uri}. */
        public void awaitTargetListening() {
            long deadline = System.nanoTime() + step.toNanos();
            while (targetTransport.pendingAccepts() == 0 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(500_000);
            }
        }
    }

    /** Drives one warm-up migration of a {@link Pair} to its end; true when both sides completed. */
    @FunctionalInterface
    public interface MigrationDriver {
        boolean migrate(Pair pair) throws Exception;
    }

    /** Through the endpoints' API, as an embedder drives them. */
    public static final MigrationDriver THROUGH_THE_API = WarmUp::migrateThroughTheApi;

    private static boolean migrateThroughTheApi(Pair p) {
        EndpointCore src = p.source();
        EndpointCore tgt = p.target();
        await(tgt.setParameters(Map.of("local", true))); // semantic 1: on both sides, the target's before migrate-incoming
        await(tgt.migrateIncoming(p.uri()));
        await(src.setParameters(Map.of("local", true)));
        p.awaitTargetListening();
        long deadline = System.nanoTime() + STEP.toNanos();
        await(src.migrate(p.uri()));
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
    }

    private static boolean inMemoryMigration(EngineCore engine, MigrationDriver driver) {
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
        InMemoryReactorDriver reactors = new InMemoryReactorDriver("livetap-warm-up-reactors", () -> { }, srcOs, tgtOs);
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
            try {
                return driver.migrate(new Pair(tag, src, tgt, srcOs, tgtOs, tgtT, uri, STEP));
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.toString(), e);
            }
        } finally {
            if (src != null) {
                src.close();
            }
            if (tgt != null) {
                tgt.close();
            }
            srcT.close();
            tgtT.close();
            reactors.close();
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
