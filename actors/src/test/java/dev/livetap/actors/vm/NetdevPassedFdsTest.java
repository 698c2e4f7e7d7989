package dev.livetap.actors.vm;

import dev.livetap.actors.options.OptionException;
import dev.livetap.actors.options.VirtioNetDeviceOptions;
import dev.livetap.actors.options.MigrationParameters;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.Frames;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code netdev_add fd=}/{@code fds=} with already open TAP queue fds (libvirt's way: they come
 * with QMP {@code getfd}): the queues start with those fds (no TUNSETIFF), wrong fds are refused
 * with every fd closed, netdev_del / device_del / VM stop close them, and such a netdev migrates
 * its TAP like any other.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class NetdevPassedFdsTest {
    static final String URI = "unix:/run/livetap/passed.sock";
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(5));

    InMemoryKernel kernel;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    InMemoryReactorDriver driver;
    ActorTestKit kit;
    PathTransport srcTransport;
    PathTransport tgtTransport;
    int openBefore;

    @BeforeEach
    void setUp() {
        openBefore = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("passed-fds");
        srcTransport = new PathTransport(srcOs);
        tgtTransport = new PathTransport(tgtOs);
    }

    @AfterEach
    void tearDown() {
        kit.shutdownTestKit();
        driver.close();
    }

    private Endpoint source() {
        return new Endpoint(kit, "src", srcOs, srcTransport, false, false, new RecordingVhostBackend(), TIMEOUTS);
    }

    private static Map<String, Object> tap(Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "tap");
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put((String) keyValues[i], keyValues[i + 1]);
        }
        return m;
    }

    private static Function<org.apache.pekko.actor.typed.ActorRef<VmReply>, VmActor.Command> netdevAdd(
            Map<String, Object> args, List<OwnedFd> fds) {
        return r -> new VmActor.NetdevAdd(TapNetdevOptions.fromQmp(args), fds, r);
    }

    private Set<Integer> pingAndCollect(String ifname, int firstSeq, int count) {
        for (int i = 0; i < count; i++) {
            assertTrue(kernel.hostSend(ifname, Frames.echo(100 + i, firstSeq + i)), "the TAP takes the frame");
        }
        Set<Integer> got = new TreeSet<>();
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (got.size() < count && System.nanoTime() < deadline) {
            Optional<byte[]> f = kernel.hostReceive(ifname);
            if (f.isEmpty()) {
                Thread.onSpinWait();
                continue;
            }
            Frames.echoReplySequence(f.get()).filter(s -> s >= firstSeq && s < firstSeq + count).ifPresent(got::add);
        }
        return got;
    }

    private static Set<Integer> range(int first, int count) {
        Set<Integer> s = new TreeSet<>();
        for (int i = 0; i < count; i++) {
            s.add(first + i);
        }
        return s;
    }

    private void awaitOpenCount(int expected) {
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (OwnedFd.openCount() != expected && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(expected, OwnedFd.openCount(), "owned fds add up; source: " + srcOs.describeOpenFds()
                + " target: " + tgtOs.describeOpenFds());
    }

    @Test
    void passedQueueFdsServeTheNicWithoutOpeningAnythingAndNetdevDelClosesThem() {
        Endpoint src = source();
        List<OwnedFd> queues = srcOs.tun().openQueues("tap0", 2, TunFlags.TAP_VNET_MQ);
        srcOs.fds().setNonBlocking(queues.get(1), false); // as a management layer might pass it
        src.ok(netdevAdd(tap("id", "net0", "fds", "tapfd0:tapfd1"), queues));
        assertTrue(srcOs.fds().isNonBlocking(queues.get(1)), "a passed fd is made non-blocking, as QEMU does");
        src.nic("nic0", "net0");
        assertEquals(range(1, 8), pingAndCollect("tap0", 1, 8), "the guest answers through the passed queues");
        assertEquals(2, kernel.tapQueueCount("tap0"), "no queue was opened by the VM (no TUNSETIFF)");
        assertEquals(2, src.nics().get(0).queues().stream().filter(q -> q.reading() && q.ownsResource()).count(),
                "both queues read their passed fd");
        assertEquals(2, srcOs.ledger().open(), "the VM holds exactly the two passed fds");

        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        VmReply again = src.call(r -> new VmActor.DeviceAdd(VirtioNetDeviceOptions.fromQmp(Map.of("driver", "virtio-net-pci", "id", "nic1",
                "netdev", "net0")), r));
        assertFalse(again.isOk(), "the fds went with the unplugged device");
        assertTrue(((VmReply.Refused) again).message().contains("netdev 'net0' has no TAP fds left"), again.toString());
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        awaitOpenCount(openBefore);
        assertEquals(0, srcOs.ledger().open(), "every passed fd is closed");
        assertFalse(kernel.tapExists("tap0"), "the non-persistent TAP went with its last fd");
        assertEquals(List.of(), src.scripts.calls(), "fd= netdevs have no scripts (QEMU refuses them with fd=)");
    }

    @Test
    void aNetdevThatNoDeviceUsedClosesItsFdsOnNetdevDelAndOnVmStop() {
        Endpoint src = source();
        src.ok(netdevAdd(tap("id", "net0", "fd", "a"), srcOs.tun().openQueues("tap0", 1, TunFlags.IFF_TAP
                | TunFlags.IFF_NO_PI | TunFlags.IFF_VNET_HDR)));
        src.ok(netdevAdd(tap("id", "net1", "fd", "b"), srcOs.tun().openQueues("tap1", 1, TunFlags.IFF_TAP
                | TunFlags.IFF_NO_PI)));
        assertEquals(2, srcOs.ledger().open());
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        assertEquals(1, srcOs.ledger().open(), "netdev_del closes the fd its netdev holds");
        kit.stop(src.vm);
        awaitOpenCount(openBefore);
        assertEquals(0, srcOs.ledger().open(), "a stopped VM closes the fds its netdevs held");
    }

    /** One refused netdev_add: the fds it carried are all closed, and nothing else changed. */
    private void refused(Endpoint vm, Map<String, Object> args, List<OwnedFd> fds, String expected, List<OwnedFd> keep) {
        int ledger = srcOs.ledger().open();
        String refusal;
        try {
            TapNetdevOptions options = TapNetdevOptions.fromQmp(args);
            VmReply r = vm.call(replyTo -> new VmActor.NetdevAdd(options, fds, replyTo));
            assertFalse(r.isOk(), args + " must be refused");
            assertEquals(VmReply.Refusal.REJECTED, ((VmReply.Refused) r).refusal());
            refusal = ((VmReply.Refused) r).message();
        } catch (OptionException e) {
            OwnedFd.closeAll(fds); // what the engine's edge does with options that do not parse
            refusal = e.getMessage();
        }
        assertTrue(refusal.contains(expected), "expected '" + expected + "' in: " + refusal);
        for (OwnedFd f : fds) {
            assertTrue(!f.isOpen() || keep.contains(f), "a refused netdev_add closes every fd it carried: " + f.number());
        }
        assertEquals(ledger - (int) fds.stream().filter(f -> !keep.contains(f)).count(), srcOs.ledger().open());
    }

    @Test
    void wrongFdsAreRefusedByNameAndEveryFdTheyCameWithIsClosed() {
        Endpoint src = source();
        List<OwnedFd> held = new ArrayList<>(); // the test's own fds, outside the commands

        OwnedFd[] pipe = srcOs.fds().pipe();
        held.add(pipe[1]);
        refused(src, tap("id", "net0", "fd", "notap"), List.of(pipe[0]),
                "fd 'notap' (fd=, queue 0) is not a TAP queue (fstat: PIPE, expected character device 10:200)", List.of());

        List<OwnedFd> a = srcOs.tun().openQueues("tapa", 2, TunFlags.TAP_VNET_MQ);
        List<OwnedFd> b = srcOs.tun().openQueues("tapb", 2, TunFlags.TAP_VNET_MQ);
        refused(src, tap("id", "net0", "fds", "x:y"), List.of(a.get(0), b.get(0)),
                "fd 'y' (fds=, queue 1) belongs to interface tapb, expected tapa", List.of());

        OwnedFd dup = a.get(1).dup();
        refused(src, tap("id", "net0", "fds", "one:same"), List.of(a.get(1), dup),
                "fds 'one' and 'same' are the same open file (kcmp): one TAP queue cannot serve two queues", List.of());

        refused(src, tap("id", "net0", "fd", "mq"), List.of(b.get(1)), "fd 'mq' (fd=, queue 0) has IFF_MULTI_QUEUE", List.of());

        List<OwnedFd> single = srcOs.tun().openQueues("taps", 1, TunFlags.IFF_TAP);
        refused(src, tap("id", "net0", "fd", "pi"), single, "was opened without IFF_NO_PI", List.of());

        List<OwnedFd> c = srcOs.tun().openQueues("tapc", 2, TunFlags.TAP_VNET_MQ);
        refused(src, tap("id", "net0", "fds", "c0:c1:c2"), c, "fds=c0:c1:c2 names 3 file descriptor(s) but 2 came",
                List.of());
        List<OwnedFd> d = srcOs.tun().openQueues("tapd", 2, TunFlags.TAP_VNET_MQ);
        refused(src, tap("id", "net0", "fd", "d0", "queues", 2), d.subList(0, 1), TapNetdevOptions.INVALID_WITH_FD,
                List.of());
        refused(src, tap("id", "net0", "ifname", "tapd"), d.subList(1, 2), "names no fd= or fds=", List.of());

        List<OwnedFd> e = srcOs.tun().openQueues("tape", 1, TunFlags.IFF_TAP | TunFlags.IFF_NO_PI);
        src.netdev(Map.of("id", "net9", "ifname", "tapz"));
        refused(src, tap("id", "net9", "fd", "e"), e, "Duplicate ID 'net9' for netdev", List.of());

        OwnedFd.closeAll(held);
        src.ok(r -> new VmActor.NetdevDel("net9", r));
        awaitOpenCount(openBefore);
        assertEquals(0, srcOs.ledger().open(), "every fd of every refused netdev_add was closed");
        assertTrue(srcOs.ledger().conserved());
    }

    @Test
    void aNetdevOfPassedFdsMigratesItsTapLikeAnyOther() throws Exception {
        Endpoint src = source();
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, new RecordingVhostBackend(), TIMEOUTS);
        src.ok(netdevAdd(tap("id", "net0", "fds", "q0:q1:q2"), srcOs.tun().openQueues("tap0", 3, TunFlags.TAP_VNET_MQ)));
        src.nic("nic0", "net0");
        tgt.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 3, "incoming-fds", true,
                "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        assertEquals(range(1, 6), pingAndCollect("tap0", 1, 6));

        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        src.ok(r -> new VmActor.Migrate(URI, r));
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        tgt.awaitRunState("running");
        assertEquals(range(100, 6), pingAndCollect("tap0", 100, 6), "the target's guest answers on the same TAP");
        assertEquals(3, kernel.tapQueueCount("tap0"), "the passed queues travelled: no queue was opened");
        assertEquals(0, srcOs.ledger().open(), "the source released the passed fds to the target");
        assertEquals(3, tgtOs.ledger().open(), "the target owns the 3 queue fds");

        tgt.ok(r -> new VmActor.DeviceDel("nic0", r));
        tgt.ok(r -> new VmActor.NetdevDel("net0", r));
        src.ok(r -> new VmActor.DeviceDel("nic0", r));
        src.ok(r -> new VmActor.NetdevDel("net0", r));
        awaitOpenCount(openBefore);
        assertFalse(kernel.tapExists("tap0"));
    }
}
