package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A {@link EndpointCore} answer completes on the thread that answered (an actor's, as its javadoc
 * says), not on a thread of its own: Pekko's ask stage turns {@code whenComplete} into
 * {@code whenCompleteAsync} on the default executor, which on a machine with at most 2 CPUs starts
 * one new Thread per call (1,000 concurrent migrations over QMP started ~5,000 threads).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EndpointCoreAskThreadTest {
    private static final int ASKS = 200;

    @Test
    void asksCompleteOnTheAnsweringThreadWithoutStartingThreads() throws Exception {
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs os = kernel.newProcess("vmm-asks");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os);
                EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(os).withSystemName("asks"))) {
            EndpointCore vm = engine.createVm(VmSpec.of("a"));
            vm.status().toCompletableFuture().get(10, TimeUnit.SECONDS); // actors started, classes loaded
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            long before = mx.getTotalStartedThreadCount();
            Set<String> completedOn = ConcurrentHashMap.newKeySet();
            for (int i = 0; i < ASKS; i++) {
                CompletableFuture<?> f = vm.status().toCompletableFuture();
                CompletableFuture<Void> seen = f.thenRun(() -> completedOn.add(Thread.currentThread().getName()));
                seen.get(10, TimeUnit.SECONDS);
            }
            long started = mx.getTotalStartedThreadCount() - before;
            assertTrue(started < ASKS / 10, started + " threads started during " + ASKS + " asks");
            assertTrue(completedOn.stream().noneMatch(n -> n.startsWith("ForkJoinPool.commonPool") || n.matches("Thread-\\d+")),
                    "answers completed on " + completedOn);
        }
    }
}
