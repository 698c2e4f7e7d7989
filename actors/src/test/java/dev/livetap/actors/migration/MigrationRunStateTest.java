package dev.livetap.actors.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Run states around a migration, as QEMU 7.2 behaves (design semantics 6 and 7): the run state
 * travels (a source paused before {@code migrate} gives a paused target, no RESUME); a source that
 * was paused stays paused after a failed migration; a source in {@code postmigrate} without any NIC
 * runs again on {@code cont} (RESUME) and pauses on {@code stop}; with a NIC whose TAP went to the
 * target livetap refuses {@code cont} with its own text.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MigrationRunStateTest {
    static final String URI = "unix:/run/livetap/runstate.sock";
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(5));

    InMemoryKernel kernel;
    InMemoryReactorDriver driver;
    ActorTestKit kit;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    Endpoint src;
    Endpoint tgt;
    PathTransport tgtTransport;

    @BeforeEach
    void setUp() {
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("runstate");
        tgtTransport = new PathTransport(tgtOs);
        src = new Endpoint(kit, "src", srcOs, new PathTransport(srcOs), false, false, new RecordingVhostBackend(), TIMEOUTS);
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    private void target(RecordingVhostBackend vhost) {
        tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, vhost, TIMEOUTS);
    }

    private void migrate() {
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        src.ok(r -> new VmActor.Migrate(URI, r));
    }

    /** Every event the endpoint sent that the probe still holds, by name (MIGRATION with its status). */
    private static List<String> drain(Endpoint e) {
        List<String> out = new ArrayList<>();
        for (VmEvent ev : e.events.receiveSeveralMessages(0, Duration.ofMillis(1))) {
            out.add(ev.event());
        }
        return out;
    }

    @Test
    void aSourcePausedBeforeMigrateGivesAPausedTargetWithoutResume() {
        target(new RecordingVhostBackend());
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        src.ok(VmActor.Stop::new);
        migrate();
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        tgt.awaitRunState("paused");
        assertEquals("postmigrate", src.runState());
        List<VmEvent> rest = tgt.events.receiveSeveralMessages(0, Duration.ofMillis(1));
        tgt.events.expectNoMessage(Duration.ofMillis(300));
        assertFalse(rest.stream().anyMatch(e -> e.event().equals(VmEvent.RESUME)), "no RESUME on the target: " + rest);
        tgt.ok(VmActor.Cont::new);
        assertEquals("running", tgt.runState(), "management resumes it with cont");
    }

    @Test
    void aSourcePausedBeforeAFailedMigrationStaysPaused() {
        target(new RecordingVhostBackend().failSetUp(1)); // the target fails to load: after the source stopped
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2, "incoming-fds", true,
                "script", "no", "downscript", "no", "vhost", true));
        tgt.nic("nic0", "net0");
        src.ok(VmActor.Stop::new);
        migrate();
        src.awaitMigrationStatus("failed");
        src.events.expectNoMessage(Duration.ofMillis(300));
        assertEquals("paused", src.runState(), "a source that was paused stays paused after a failure");
    }

    @Test
    void contAndStopOnASourceInPostmigrateWithoutNics() {
        target(new RecordingVhostBackend());
        migrate();
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        assertEquals("postmigrate", src.runState());
        drain(src);
        src.ok(VmActor.Cont::new);
        assertEquals(VmEvent.RESUME, src.events.receiveMessage().event(), "cont resumes it, as QEMU does");
        assertEquals("running", src.runState());
        src.ok(VmActor.Stop::new);
        assertEquals(VmEvent.STOP, src.events.receiveMessage().event());
        assertEquals("paused", src.runState());
    }

    @Test
    void contOnASourceWhoseTapWentToTheTargetIsRefusedWithItsReason() {
        target(new RecordingVhostBackend());
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 2, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        migrate();
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        VmReply r = src.call(VmActor.Cont::new);
        assertEquals(VmReply.Refused.rejected(VmActor.POSTMIGRATE_CONT_REFUSED), r);
        assertEquals("postmigrate", src.runState(), "the refusal changes nothing");
    }
}
