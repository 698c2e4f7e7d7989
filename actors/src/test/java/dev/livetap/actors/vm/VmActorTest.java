package dev.livetap.actors.vm;

import dev.livetap.actors.options.MigrationParameters;
import static org.junit.jupiter.api.Assertions.assertThrows;
import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.RunState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.migration.MigrationInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.InMemoryMigrationTestAccess;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The VM endpoint's protocol: QMP-ready errors, run states and their events. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class VmActorTest {
    ActorTestKit kit;
    InMemoryOs os;
    InMemoryReactorDriver driver;

    @BeforeEach
    void setUp() {
        kit = ActorTestKit.create("vm");
        os = new InMemoryOs();
        driver = new InMemoryReactorDriver(os);
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    private Endpoint vm(boolean incoming, boolean startPaused) {
        return new Endpoint(kit, incoming ? "tgt" : "src", os, new PathTransport(os), incoming, startPaused,
                new RecordingVhostBackend(), InMemoryMigrationTestAccess.TIMEOUTS);
    }

    private static VmReply.Refused error(VmReply r) {
        assertFalse(r.isOk(), "the command must be refused");
        return (VmReply.Refused) r;
    }

    @Test
    void refusalsCarryQmpErrorClassesAndQemusTexts() {
        Endpoint src = vm(false, false);
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2));
        assertEquals(VmReply.Refused.rejected("Duplicate ID 'net0' for netdev"),
                error(src.call(r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net0")), r))));
        assertEquals(VmReply.Refused.rejected("Property 'virtio-net-pci.netdev' can't find value 'nope'"),
                error(src.call(r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(Map.of("driver", "virtio-net-pci", "netdev", "nope")), r))));
        assertEquals(new VmReply.Refused(VmReply.Refusal.DEVICE_NOT_FOUND, "Device 'nic9' not found"), error(src.call(r -> new VmActor.DeviceDel("nic9", r))));
        assertEquals(VmReply.Refused.rejected("'-incoming' was not specified on the command line"),
                error(src.call(r -> new VmActor.MigrateIncoming("unix:/x", r))));
        // a netdev_add whose options do not parse never reaches the VM: the edge refuses it with this text
        assertEquals("incoming-fds is incompatible with fd=, fds=, helper=",
                assertThrows(OptionException.class, () -> TapNetdevOptions.fromQmp(Map.of("type", "tap", "id", "net1",
                        "incoming-fds", true, "helper", "/usr/lib/qemu/qemu-bridge-helper"))).getMessage());
        src.netdev(Map.of("id", "net1", "ifname", "tap1", "incoming-fds", true, "script", "no", "downscript", "no"));
        assertEquals(VmReply.Refused.rejected("Peers wait for incoming, but it's not an incoming migration."),
                error(src.call(r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(Map.of("driver", "virtio-net-pci", "id", "nic1", "netdev", "net1")), r))));
        assertEquals(VmReply.Refused.rejected("livetap migrates only over UNIX sockets (unix:PATH); got tcp:h:1"),
                error(src.call(r -> new VmActor.Migrate("tcp:h:1", r))));
        assertEquals(new VmReply.Parameters(MigrationParameters.defaults()),
                src.call(VmActor.QueryMigrateParameters::new));
        assertEquals(0, os.ledger().open(), "no device was realized, so no TAP queue is open");
    }

    @Test
    void stopAndContChangeTheRunStateWithEventsAndTheQueues() {
        Endpoint src = vm(false, false);
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2));
        src.nic("nic0", "net0");
        assertEquals(new VmReply.Status(RunState.RUNNING), src.call(VmActor.QueryStatus::new));
        src.ok(VmActor.Stop::new);
        assertEquals(VmEvent.STOP, src.events.receiveMessage().event());
        assertEquals("paused", src.runState());
        assertTrue(src.nics().get(0).queues().stream().noneMatch(q -> q.reading()), "a stopped VM reads no queue");
        src.ok(VmActor.Cont::new);
        assertEquals(VmEvent.RESUME, src.events.receiveMessage().event());
        assertTrue(src.nics().get(0).queues().stream().allMatch(q -> q.reading()), "cont makes every queue read");
    }

    @Test
    void anIncomingVmStartsInmigrateAndContOnlyArmsTheAutostart() {
        Endpoint tgt = vm(true, true);
        assertEquals("inmigrate", tgt.runState());
        tgt.ok(VmActor.Cont::new);
        assertEquals("inmigrate", tgt.runState(), "cont during inmigrate only makes the VM start when the migration completes");
        assertEquals(List.of(), tgt.nics());
    }

    @Test
    void queryMigrateRightAfterMigrateDescribesTheNewMigrationNotThePreviousOne() {
        Endpoint src = vm(false, false);
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2));
        src.nic("nic0", "net0");
        src.ok(r -> new VmActor.Migrate("unix:/run/nobody-listens.sock", r));
        src.awaitMigrationStatus("failed");
        assertEquals(MigrationStatus.FAILED, src.info().status(), "the first migration failed: no target");
        // migrate and query-migrate back to back: the query is in the mailbox before the new
        // coordinator can report anything, so only the VM's own bookkeeping can answer it
        TestProbe<VmReply> migrated = kit.createTestProbe();
        TestProbe<VmReply> queried = kit.createTestProbe();
        src.vm.tell(new VmActor.Migrate("unix:/run/nobody-listens.sock", migrated.getRef()));
        src.vm.tell(new VmActor.QueryMigrate(queried.getRef()));
        assertTrue(migrated.receiveMessage(Endpoint.WAIT).isOk());
        MigrationInfo info = ((VmReply.Migration) queried.receiveMessage(Endpoint.WAIT)).info();
        assertEquals("migration-src-2", info.migrationId(), "query-migrate describes the migration just started: " + info);
        // setup, or already this migration's own 'failed' when the coordinator was faster than the
        // test thread's second tell: what matters is that it is the new migration's state
        assertTrue(info.status() == MigrationStatus.SETUP || info.status() == MigrationStatus.FAILED, info.toString());
        assertEquals(0, info.sourceStoppedNanos(), "nothing of the previous migration is reported");
        src.awaitMigrationStatus("failed");
    }
}
