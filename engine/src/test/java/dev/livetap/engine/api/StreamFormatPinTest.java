package dev.livetap.engine.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code x-stream-format}: a source pinned to the previous stream format (1, no frame checksums;
 * what a rollback to a format-1 build writes) migrates with its TAP queues to today's target,
 * which loads formats 1 and 2; a format this build cannot write is refused when set. Whether the
 * pinned stream is really format 1 is checked byte for byte in the codec (VersionTest) and against
 * a real previous build by {@code scripts/compat-check} (docs/stream-format.md).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StreamFormatPinTest {
    private static final Duration T = Duration.ofSeconds(20);

    @Test
    void aSourcePinnedToThePreviousFormatMigratesItsTapToTodaysTarget() throws Exception {
        int owned = OwnedFd.openCount();
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs os1 = kernel.newProcess("vmm-new");
        InMemoryOs os2 = kernel.newProcess("vmm-target");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os1, os2);
                LivetapEngine sourceEngine = LivetapEngine.wrap(EngineCore.create(EmbeddingApiTest.settings(os1, "pin1")));
                LivetapEngine targetEngine = LivetapEngine.wrap(EngineCore.create(EmbeddingApiTest.settings(os2, "pin2")))) {
            VirtualMachine source = sourceEngine.createVm(VmSpec.of("web1"));
            join(source.netdevAdd(TapNetdev.named("net0").ifname("tap0").queues(2)));
            join(source.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true).mac("52:54:00:12:34:56")));
            LivetapException bad = LivetapException.unwrap(assertThrows(CompletionException.class,
                    () -> join(source.setParameters(MigrationParameterUpdate.none().streamFormat(3)))));
            assertEquals("Parameter 'x-stream-format' expects a stream format version this build writes, 1 to 2",
                    bad.desc(), "a format this build cannot write is refused when set");
            join(source.setParameters(MigrationParameterUpdate.none().local(true).streamFormat(1)));
            assertEquals(new MigrationParameters(true, 300, 0, 1), join(source.parameters()));

            VirtualMachine target = targetEngine.createVm(VmSpec.of("web1b").incoming(true));
            join(target.netdevAdd(TapNetdev.named("net0").ifname("tap0").queues(2).incomingFds(true)
                    .script("no").downscript("no")));
            join(target.deviceAdd(VirtioNetDevice.of("nic0", "net0").multiqueue(true).mac("52:54:00:12:34:56")));
            join(target.setParameters(MigrationParameterUpdate.none().local(true)));
            UnixMigrationTransport t = (UnixMigrationTransport) targetEngine.core().transport();
            int before = t.pendingAccepts();
            join(target.migrateIncoming("unix:/run/livetap/web1b.sock"));
            long deadline = System.nanoTime() + T.toNanos();
            while (t.pendingAccepts() == before && System.nanoTime() < deadline) {
                Thread.sleep(1); // migrate-incoming answers once it listens; the accept is registered just after
            }

            MigrationHandle migration = source.migrate("unix:/run/livetap/web1b.sock");
            join(migration.accepted());
            MigrationOutcome done = join(migration.outcome());
            assertInstanceOf(MigrationOutcome.Completed.class, done, "a format-1 stream loads here: " + done);
            deadline = System.nanoTime() + T.toNanos();
            while (join(target.status()).runState() != RunState.RUNNING && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            assertEquals(new VmStatus(true, RunState.RUNNING), join(target.status()), "the target runs");
            assertTrue(join(target.nics()).get(0).queues().stream().allMatch(NicInfo.QueueInfo::ownsResource),
                    "both TAP queue fds travelled in the format-1 stream");
            assertEquals(RunState.POSTMIGRATE, join(source.status()).runState());
        }
        assertEquals(owned, OwnedFd.openCount(), "closing the engines closes every fd");
    }

    private static <V> V join(java.util.concurrent.CompletionStage<V> s) {
        try {
            return s.toCompletableFuture().get(T.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new CompletionException(e.getCause());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
