package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.api.LivetapException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.livetap.actors.tap.KernelVhostNet;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code vhost=on} is never silently ignored: on a kernel without vhost-net, netdev_add fails with
 * QEMU's text (net_init_tap_one: "tap: open vhost char device failed: ...") whether or not the netdev
 * waits for incoming fds, and nothing is left behind (the same id can be added without vhost).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VhostNetdevTest {
    @Test
    void vhostOnFailsNetdevAddWithQemusTextWhereVhostNetIsMissing() throws Exception {
        assumeFalse(Files.exists(KernelVhostNet.DEVICE), "this kernel has /dev/vhost-net: the text differs there");
        InMemoryKernel kernel = new InMemoryKernel();
        InMemoryOs os = kernel.newProcess("vmm-vhost");
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(os);
                EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(os).withSystemName("vhost"))) {
            EndpointCore vm = engine.createVm(VmSpec.of("v"));
            ExecutionException e = assertThrows(ExecutionException.class, () -> vm.netdevAdd(Map.of("id", "net0",
                    "ifname", "tap0", "vhost", true, "script", "no", "downscript", "no")).toCompletableFuture()
                    .get(10, TimeUnit.SECONDS));
            LivetapException l = assertInstanceOf(LivetapException.class, e.getCause());
            assertEquals(KernelVhostNet.OPEN_FAILED, l.desc());
            vm.netdevAdd(Map.of("id", "net0", "ifname", "tap0", "script", "no", "downscript", "no"))
                    .toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
