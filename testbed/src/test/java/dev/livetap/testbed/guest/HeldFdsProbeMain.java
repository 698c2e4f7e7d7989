package dev.livetap.testbed.guest;

import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.testbed.HostCommand;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The held-fds control plane, run inside the test's namespace (a process that opens TAPs starts
 * inside its namespace): opens the two queues of TAP {@code args[3]} itself, gives them to a
 * source QEMU with {@code getfd} + {@code netdev_add fds=} + {@code device_add} before {@code cont},
 * waits until the guest answers, then gives the same open files to a target QEMU started with
 * {@code -incoming defer}. After each step it prints {@code HELD-FDS key value} lines: the vnet
 * header length read back from the TAP (TUNGETVNETHDRSZ), whether each queue is detached, and how
 * many of 10 pings the guest answered. Args: work dir, kernel, initrd, TAP name.
 */
public final class HeldFdsProbeMain {
    private static final Duration QMP = Duration.ofSeconds(20);
    /** A guest that answers: room for a slow (TCG, loaded machine) guest to answer all 10. */
    private static final int HEALTHY_DEADLINE_S = 8;
    /** A guest whose frames are mis-framed: the 10 pings take 1 s to send, then 2 s more for a late reply. */
    private static final int BROKEN_DEADLINE_S = 3;

    private HeldFdsProbeMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        QemuProcess.Guest guest = new QemuProcess.Guest(Path.of(args[1]), Path.of(args[2]),
                QemuProcess.Guest.DEFAULT_APPEND, 128, 2, QemuProcess.NetdevLater.INSTANCE);
        Tun tun = JnaOs.instance().tun();
        // The process's one reactor (its epoll and wake-up fds live as long as the JVM) reads the QMP
        // clients' replies: started before the snapshot, it is not counted as a leak.
        JnaOs.instance().reactor();
        FdCounter fdsBefore = FdCounter.snapshot();
        List<OwnedFd> queues = tun.openQueues(args[3], 2, TunFlags.TAP_VNET_MQ);
        List<String> names = List.of("q0", "q1");
        try (QemuProcess source = QemuProcess.startGuest(dir, "source", guest, null, false, true)) {
            report(tun, queues, "opened");
            await(source);
            try (QmpClient src = QmpClient.connect(JnaOs.instance(), source.qmpSocket(), QMP)) {
                src.negotiate();
                for (int i = 0; i < queues.size(); i++) {
                    src.getfd(names.get(i), queues.get(i));
                }
                src.execute("netdev_add", QemuProcess.netdevAdd(names));
                src.execute("device_add", QemuProcess.nicDeviceAdd(2));
                src.execute("cont", null);
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                boolean ready = false;
                while (!ready && System.nanoTime() - deadline < 0) {
                    ready = HostCommand.run(Duration.ofSeconds(5), List.of("ping", "-n", "-c", "1", "-W", "1",
                            GuestImage.GUEST_ADDRESS)).ok();
                }
                line("source-ready", String.valueOf(ready));
                if (!ready) {
                    System.out.println(source.console());
                    return;
                }
                report(tun, queues, "source-running");
                line("replies-source-running", String.valueOf(replies(HEALTHY_DEADLINE_S)));

                try (QemuProcess target = QemuProcess.startGuest(dir, "target", guest, null, true, false)) {
                    await(target);
                    try (QmpClient tgt = QmpClient.connect(JnaOs.instance(), target.qmpSocket(), QMP)) {
                        tgt.negotiate();
                        for (int i = 0; i < queues.size(); i++) {
                            tgt.getfd(names.get(i), queues.get(i));
                        }
                        tgt.execute("netdev_add", QemuProcess.netdevAdd(names));
                        report(tun, queues, "target-netdev-added");
                        line("replies-after-target-netdev", String.valueOf(replies(BROKEN_DEADLINE_S)));
                        try {
                            tgt.execute("device_add", QemuProcess.nicDeviceAdd(2));
                            report(tun, queues, "target-nic-added");
                        } catch (RuntimeException e) {
                            line("target-nic-added", "failed");
                            System.out.println("target device_add: " + e.getMessage());
                        }
                    }
                    target.process().awaitExit(Duration.ofSeconds(2));
                    line("target-alive", String.valueOf(target.process().isAlive()));
                    System.out.println("target: " + target.process().describe());
                }
                line("replies-after-target", String.valueOf(replies(BROKEN_DEADLINE_S)));
                line("source-status", src.execute("query-status", null).path("status").asText());
            }
        } finally {
            OwnedFd.closeAll(queues);
        }
        fdsBefore.assertNoLeak();
        line("fds", "no-leak");
    }

    private static void await(QemuProcess qemu) {
        if (!qemu.awaitQmpSocket(QMP)) {
            throw new IllegalStateException("no QMP socket: " + qemu.process().describe());
        }
    }

    private static void report(Tun tun, List<OwnedFd> queues, String step) {
        line(step + "-vnet-hdr-len", String.valueOf(tun.vnetHdrSize(queues.get(0))));
        for (int i = 0; i < queues.size(); i++) {
            line(step + "-q" + i + "-detached", String.valueOf(tun.info(queues.get(i)).detached()));
        }
    }

    /**
     * Replies of 10 pings 0.1 s apart, waiting at most {@code deadlineSeconds} in all (ping ends early once all 10 are
     * answered; where none is, it waits the whole deadline).
     */
    private static int replies(int deadlineSeconds) {
        String out = HostCommand.run(Duration.ofSeconds(20), List.of("ping", "-n", "-c", "10", "-i", "0.1", "-W", "1", "-w",
                String.valueOf(deadlineSeconds), GuestImage.GUEST_ADDRESS)).output();
        return RealGuest.pingSummary(out)[1];
    }

    private static void line(String key, String value) {
        System.out.println("HELD-FDS " + key + " " + value);
        System.out.flush();
    }
}
