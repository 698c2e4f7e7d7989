package dev.livetap.engine.internal;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.engine.api.VmSpec;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A VM's shutdown answered again once the VM has ended: a VMM stopping on SIGTERM stops its VMs, then closes the
 * engine, which stops them once more. A second Shutdown sent to the VM's stopped supervisor reached no one, so the
 * engine's close waited out its 15-second timeout (one SIGTERM in about ten took 15.5 s instead of 0.4 s).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EndpointShutdownTest {
    @Test
    void aShutdownAfterTheVmEndedCompletesAndTheEngineClosesWithoutWaitingOutItsTimeout() throws Exception {
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs os = kernel.newProcess("vmm-shutdown");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os)) {
            EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(os).withSystemName("shutdown"));
            EndpointCore vm = engine.createVm(VmSpec.of("a"));
            vm.status().toCompletableFuture().get(10, TimeUnit.SECONDS);
            vm.shutdown().toCompletableFuture().get(10, TimeUnit.SECONDS);
            vm.shutdown().toCompletableFuture().get(2, TimeUnit.SECONDS); // the VM has ended: answered at once
            long t0 = System.nanoTime();
            engine.close(); // stops the endpoint once more, then the ActorSystem
            long ms = (System.nanoTime() - t0) / 1_000_000;
            // the bound separates the two outcomes (the close timeout is 15 s), not a speed: a close takes ~0.1 s
            assertTrue(ms < EngineCore.CLOSE_TIMEOUT.toMillis() / 2, "the engine's close took " + ms + " ms");
        }
    }
}
