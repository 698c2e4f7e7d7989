package dev.livetap.actors.vm;

import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.livetap.actors.migration.InMemoryMigrationTestAccess;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** "Put a limit on everything": netdevs and NICs per VM endpoint (docs/security.md, limits table). */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class VmLimitsTest {
    ActorTestKit kit;
    InMemoryOs os;
    InMemoryReactorDriver driver;

    @BeforeEach
    void setUp() {
        kit = ActorTestKit.create("vm-limits");
        os = new InMemoryOs();
        driver = new InMemoryReactorDriver(os);
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    private Endpoint vm() {
        return new Endpoint(kit, "src", os, new PathTransport(os), false, false, new RecordingVhostBackend(),
                InMemoryMigrationTestAccess.TIMEOUTS);
    }

    @Test
    void aVmHoldsAtMostMaxNetdevsNetdevsAndARefusalChangesNothing() {
        Endpoint vm = vm();
        for (int i = 0; i < VmActor.MAX_NETDEVS; i++) {
            vm.netdev(Map.of("id", "net" + i, "ifname", "tap" + i));
        }
        VmReply refused = vm.call(r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "one-more", "ifname", "tapx")), r));
        assertFalse(refused.isOk(), "netdev number MAX_NETDEVS + 1 must be refused");
        assertEquals(VmReply.Refused.rejected("too many netdevs: this VM has " + VmActor.MAX_NETDEVS + " (limit "
                + VmActor.MAX_NETDEVS + ")"), refused);
        vm.ok(r -> new VmActor.NetdevDel("net0", r));
        vm.netdev(Map.of("id", "one-more", "ifname", "tapx")); // a freed slot can be used again
        assertEquals(0, os.ledger().open(), "netdevs without a device open nothing");
    }

    @Test
    void aVmHoldsAtMostMaxNicsNicsAndTheRefusedOneOpensNoQueue() {
        Endpoint vm = vm();
        for (int i = 0; i <= VmActor.MAX_NICS; i++) {
            vm.netdev(Map.of("id", "net" + i, "ifname", "tap" + i));
        }
        for (int i = 0; i < VmActor.MAX_NICS; i++) {
            vm.nic("nic" + i, "net" + i);
        }
        int openWithMaxNics = os.ledger().open();
        assertEquals(VmActor.MAX_NICS, openWithMaxNics, "one TAP queue per realized NIC");
        VmReply refused = vm.call(r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(Map.of("driver", "virtio-net-pci", "id", "nicx",
                "netdev", "net" + VmActor.MAX_NICS)), r));
        assertFalse(refused.isOk(), "NIC number MAX_NICS + 1 must be refused");
        assertEquals(VmReply.Refused.rejected("too many NICs: this VM has " + VmActor.MAX_NICS + " (limit "
                + VmActor.MAX_NICS + ")"), refused);
        assertEquals(openWithMaxNics, os.ledger().open(), "a refused device_add opens no TAP queue");
        assertEquals(VmActor.MAX_NICS, vm.nics().size());
        vm.ok(r -> new VmActor.DeviceDel("nic0", r));
        vm.nic("nicx", "net" + VmActor.MAX_NICS); // a freed slot can be used again
    }
}
