package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpException;
import dev.livetap.engine.testing.TapBroker;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * libvirt's way of giving a VM its TAP, on the real kernel and the real QMP socket: a child JVM
 * opens a 2-queue TAP inside a private namespace and passes the queue fds to this JVM; they go to
 * the VM endpoint with {@code getfd} ×2, then {@code netdev_add fds=tapfd0:tapfd1} and
 * {@code device_add virtio-net-pci mq=true}; real {@code ping} in the namespace reaches the guest
 * stand-in through them, and {@code device_del} + {@code netdev_del} close them (counted in
 * /proc/self/fd).
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 90, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpNetdevPassedTapFdsTest {
    static final Duration T = Duration.ofSeconds(10);
    static final String GUEST = "10.0.7.2";

    Os os;
    Path dir;
    NetworkNamespace ns;
    EngineCore engine;
    EndpointCore vm;
    QmpFrontend qmp;
    FdCounter fds;

    @BeforeEach
    void start() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        fds = FdCounter.snapshot();
        dir = Files.createTempDirectory("livetap-fdpass");
        ns = NetworkNamespace.create();
        engine = EngineCore.create(EngineSettings.defaults().withSystemName("fdpass"));
        vm = engine.createVm(VmSpec.of("vm").guestIp(GUEST));
        qmp = QmpFrontend.start(vm, os, dir.resolve("vm.qmp"), () -> { }, T);
    }

    @AfterEach
    void stop() throws Exception {
        try {
            if (qmp != null) {
                qmp.close();
            }
            if (engine != null) {
                engine.close();
            }
        } finally {
            if (ns != null) {
                ns.close();
            }
            try (var l = Files.list(dir)) {
                for (Path p : l.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
        long deadline = System.nanoTime() + T.toNanos();
        while (tunFds() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        fds.assertNoLeak();
    }

    private static ObjectNode args() {
        return JsonNodeFactory.instance.objectNode();
    }

    /** TAP queue fds of this process (the census: by fdinfo). */
    private static long tunFds() {
        return ProcessCensus.fdKinds(ProcessHandle.current().pid()).tun();
    }

    private static String fdTargets() {
        return ProcessCensus.describeFds(ProcessHandle.current().pid());
    }

    @Test
    void getfdThenNetdevAddFdsThenDeviceAddServesPingAndNetdevDelClosesTheFds() throws Exception {
        long tunBefore = tunFds();
        List<OwnedFd> queues = TapBroker.openQueues(os, dir, ns, "ltf0", 2, TunFlags.TAP_VNET_MQ, T);
        try (QmpClient c = QmpClient.connect(os, dir.resolve("vm.qmp"), T)) {
            c.negotiate();
            c.getfd("tapfd0", queues.get(0));
            c.getfd("tapfd1", queues.get(1));
            OwnedFd.closeAll(queues); // the VM endpoint holds its own copies now
            assertEquals(tunBefore + 2, tunFds(), "after getfd the endpoint's session holds the 2 queue fds: " + fdTargets());

            QmpException unknown = assertThrows(QmpException.class, () -> c.execute("netdev_add",
                    args().put("type", "tap").put("id", "bad").put("fds", "tapfd0:nosuch")));
            assertEquals("File descriptor named 'nosuch' has not been found", unknown.desc());
            assertEquals(tunBefore + 1, tunFds(), "a refused netdev_add closes the fds it had taken (tapfd0)");
            List<OwnedFd> again = TapBroker.openQueues(os, dir, ns, "ltf0", 1, TunFlags.TAP_VNET_MQ, T);
            assertEquals(1, again.size());
            // re-attach a queue to the same TAP: the broker opens one more queue of ltf0 (still alive through tapfd1)
            c.getfd("tapfd0", again.get(0));
            OwnedFd.closeAll(again);

            c.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("fds", "tapfd0:tapfd1"));
            c.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mq", true));
            assertEquals(tunBefore + 2, tunFds(), "the NIC's two queues hold the passed fds; nothing was opened");

            ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
            ns.run("ip", "addr", "add", "10.0.7.1/24", "dev", "ltf0");
            ns.run("ip", "link", "set", "ltf0", "up");
            assertTrue(ns.exec(Duration.ofSeconds(15), "ping", "-c", "3", "-i", "0.2", "-W", "2", GUEST).ok(),
                    "the guest stand-in answers ping through the passed TAP queue fds");
            VirtioNetActor.NicInfo nic = vm.nics().toCompletableFuture().get(10, TimeUnit.SECONDS).get(0);
            assertEquals(2, nic.queuePairs());
            assertTrue(nic.queues().stream().allMatch(q -> q.reading() && q.ownsResource()),
                    "both queues read their passed fd: " + nic.queues());
            assertTrue(nic.guest().counters().framesSeen() >= 3, "the NIC read the pings: " + nic.guest());

            c.execute("device_del", args().put("id", "nic0"));
            c.execute("netdev_del", args().put("id", "net0"));
            long deadline = System.nanoTime() + T.toNanos();
            while (tunFds() > tunBefore && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(tunBefore, tunFds(), "device_del + netdev_del close every passed queue fd");
            assertFalse(ns.exec(Duration.ofSeconds(20), "ip", "link", "show", "ltf0").ok(), "the non-persistent TAP went with its last fd");
        }
    }
}
