package dev.livetap.actors.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.DeadLetter;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.eventstream.EventStream;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Normal operation sends nothing to a stopped actor: a successful in-memory migration of a 4-queue
 * NIC, the target answering ping, and the teardown of both VMs publish no {@link DeadLetter}.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class NoDeadLettersTest {
    private static final String URI = "unix:/run/livetap/no-dead-letters.sock";

    private InMemoryKernel kernel;
    private InMemoryOs srcOs;
    private InMemoryOs tgtOs;
    private InMemoryReactorDriver driver;
    private ActorTestKit kit;
    private int openBefore;

    @BeforeEach
    void setUp() {
        openBefore = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("no-dead-letters");
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    @Test
    void aSuccessfulMigrationAndTeardownPublishNoDeadLetter() throws Exception {
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        ActorRef<DeadLetter> listener = kit.spawn(Behaviors.receive(DeadLetter.class).onMessage(DeadLetter.class, d -> {
            seen.add(d.message().getClass().getName() + " to " + d.recipient().path());
            return Behaviors.same();
        }).build(), "dead-letter-listener");
        TestProbe<Object> subscribed = kit.createTestProbe();
        kit.system().eventStream().tell(new EventStream.Subscribe<>(DeadLetter.class, listener));
        PathTransport tgtTransport = new PathTransport(tgtOs);
        Endpoint src = new Endpoint(kit, "src", srcOs, new PathTransport(srcOs), false, false,
                new RecordingVhostBackend(), InMemoryMigrationTest.TIMEOUTS);
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, new RecordingVhostBackend(),
                InMemoryMigrationTest.TIMEOUTS);
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        for (int i = 0; i < 4; i++) {
            kernel.hostSend("tap0", Frames.echo(100 + i, 1 + i));
        }

        tgt.ok(r -> new VmActor.MigrateSetParameters(dev.livetap.actors.options.MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        src.ok(r -> new VmActor.MigrateSetParameters(dev.livetap.actors.options.MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        tgt.awaitRunState("running");
        for (int i = 0; i < 4; i++) {
            kernel.hostSend("tap0", Frames.echo(100 + i, 50 + i));
        }
        src.info();
        tgt.info();
        tgt.nics();

        for (Endpoint e : List.of(src, tgt)) {
            e.ok(r -> new VmActor.DeviceDel("nic0", r));
            e.ok(r -> new VmActor.NetdevDel("net0", r));
        }
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (OwnedFd.openCount() != openBefore && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(openBefore, OwnedFd.openCount(), "every fd closed after the teardown");
        subscribed.expectNoMessage(Duration.ofMillis(500)); // let anything in flight arrive
        assertEquals(List.of(), List.copyOf(seen), "normal operation sends no message to a stopped actor");
    }
}
