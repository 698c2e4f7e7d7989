package dev.livetap.actors.testing;

import java.util.Optional;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.simulation.doubles.RecordingScriptRunner;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MachineType;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.actors.vm.VmEvent;
import dev.livetap.actors.vm.VmReply;
import dev.livetap.nativeio.Os;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;

/** One VM endpoint under test, with blocking helpers (each wait bounded) and its recorded events. */
public final class Endpoint {
    public static final Duration WAIT = Duration.ofSeconds(30); // a bound, not an expectation: a starved machine (load 30+) took over 10 s

    public final String name;
    public final Os os;
    public final ActorTestKit kit;
    public final ActorRef<VmActor.Command> vm;
    public final RecordingScriptRunner scripts = new RecordingScriptRunner();
    public final RecordingVhostBackend vhost;
    public final TestProbe<VmEvent> events;
    private final List<String> migrationStatuses = new ArrayList<>();

    public Endpoint(ActorTestKit kit, String name, Os os, MigrationTransport transport, boolean incoming,
            boolean startPaused, RecordingVhostBackend vhost, MigrationTimeouts timeouts) {
        this.name = name;
        this.os = os;
        this.kit = kit;
        this.vhost = vhost;
        VmActor.VmConfig config = new VmActor.VmConfig(name, MachineType.parse("q35"), incoming, startPaused, os,
                transport, scripts, vhost, timeouts, Duration.ofSeconds(5), Ipv4Address.parse("10.0.0.2"), 4242);
        this.vm = kit.spawn(VmActor.create(config), name, VmActor.DISPATCHER);
        this.events = kit.createTestProbe(name + "-events");
        vm.tell(new VmActor.Subscribe(events.getRef()));
    }

    public VmReply call(Function<ActorRef<VmReply>, VmActor.Command> command) {
        TestProbe<VmReply> p = kit.createTestProbe();
        vm.tell(command.apply(p.getRef()));
        return p.receiveMessage(WAIT);
    }

    public VmReply ok(Function<ActorRef<VmReply>, VmActor.Command> command) {
        VmReply r = call(command);
        assertTrue(r.isOk(), name + ": command must succeed, got " + r);
        return r;
    }

    public void netdev(Map<String, Object> args) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("type", "tap");
        a.putAll(args);
        ok(r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(a), r));
    }

    public void nic(String id, String netdev) {
        ok(r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(Map.of("driver", "virtio-net-pci", "id", id,
                "netdev", netdev, "mq", true, "mac", Frames.GUEST_MAC.toString())),
                Optional.of(Ipv4Address.parse("10.0.0.2")), r));
    }

    public MigrationInfo info() {
        return ((VmReply.Migration) ok(VmActor.QueryMigrate::new)).info();
    }

    public String runState() {
        return ((VmReply.Status) ok(VmActor.QueryStatus::new)).runState().qmpName();
    }

    public List<VirtioNetActor.NicInfo> nics() {
        return ((VmReply.Nics) ok(VmActor.QueryNics::new)).nics();
    }

    /** Reads events until the MIGRATION event with {@code status}; records every status seen. */
    public void awaitMigrationStatus(String status) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            VmEvent e = events.receiveMessage(WAIT);
            if (e.event().equals(VmEvent.MIGRATION)) {
                String s = (String) e.data().get("status");
                migrationStatuses.add(s);
                if (s.equals(status)) {
                    return;
                }
            }
        }
        fail(name + ": no MIGRATION event with status " + status + "; saw " + migrationStatuses);
    }

    /** Every MIGRATION status seen so far by {@link #awaitMigrationStatus}. */
    public List<String> migrationStatuses() {
        return List.copyOf(migrationStatuses);
    }

    /** Polls the run state until it is {@code expected} (bounded). */
    public void awaitRunState(String expected) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        String last = null;
        while (System.nanoTime() < deadline) {
            last = runState();
            if (last.equals(expected)) {
                return;
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
        fail(name + ": run state must become " + expected + ", is " + last);
    }
}
