package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.testbed.HostCommand;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresTun;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The hand-off itself: a child JVM inside a private namespace opens a 4-queue TAP and passes the
 * queue fds with one raw sendmsg over a path socket to this JVM, which then owns the device:
 * TUNGETIFF agrees, a frame caused by ping in the namespace is read here, and a frame written
 * here is received by the namespace's interface - after the sender has exited.
 */
@RequiresTun
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TapHandoffTest {
    private static final String IFNAME = "lth0";
    private static final int QUEUES = 4;
    private static final int VNET_HDR = 10;
    private static final int ETH = VNET_HDR; // Ethernet header starts after the virtio_net_hdr
    private static final byte[] STAND_IN_MAC = {0x02, 0, 0, 0, 0, 0x02};
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    @Test
    void queueFdsPassedToAnotherProcessKeepTheTapAndCarryItsFrames() throws Exception {
        JnaOs os = JnaOs.instance();
        UnixSockets unix = os.unix();
        Tun tun = os.tun();
        FdCounter counter = FdCounter.snapshot();
        Path socketPath = Path.of("/tmp", "livetap-t" + ProcessHandle.current().pid() + "-handoff.sock");
        unix.unlinkSocket(socketPath);
        List<OwnedFd> queues = new ArrayList<>();
        try (NetworkNamespace ns = NetworkNamespace.create();
             OwnedFd listener = unix.listen(socketPath, 0600)) {
            try (ChildJvm source = ChildJvm.builder(TapHolderMain.class).inNetns(ns)
                    .args(socketPath.toString(), IFNAME, String.valueOf(QUEUES)).start()) {
                try (OwnedFd conn = acceptWithin(unix, listener, source)) {
                    PeerCredentials peer = unix.peerCredentials(conn);
                    assertEquals(source.pid(), peer.pid(), "SO_PEERCRED names the child JVM (ip netns exec execs java in place)");

                    ByteBuffer header = ByteBuffer.allocate(64);
                    long deadline = System.nanoTime() + WAIT_NANOS;
                    while (!endsWithNewline(header) && System.nanoTime() < deadline) {
                        int n = unix.recvmsg(conn, header, queues, UnixSockets.SCM_MAX_FD);
                        assertTrue(n >= 0, "the source must not hang up before its message is complete: " + source.describe());
                        if (n == 0) {
                            Thread.sleep(5);
                        }
                    }
                    String text = new String(header.array(), 0, header.position(), StandardCharsets.US_ASCII).trim();
                    assertEquals(IFNAME + " " + QUEUES, text, "the message that carried the fds");
                    assertEquals(QUEUES, queues.size(), "every queue fd arrives with the first byte: " + source.describe());

                    for (OwnedFd q : queues) {
                        TunInfo info = tun.info(q);
                        assertEquals(IFNAME, info.name(), "TUNGETIFF in the receiving process names the sender's TAP");
                        assertEquals(TunFlags.TAP_VNET_MQ, info.flags(), "TUNGETIFF in the receiving process reports the sender's flags");
                        assertEquals(FdKind.TUN, os.fds().kind(q), "a received queue fd is a TUN fd");
                    }
                    for (int i = 0; i < QUEUES; i++) {
                        for (int j = i + 1; j < QUEUES; j++) {
                            assertFalse(os.fds().sameOpenFile(queues.get(i), queues.get(j)), "each queue is its own open file");
                        }
                    }
                    assertEquals(1, unix.sendmsg(conn, ByteBuffer.wrap(new byte[] {'A'}), List.of()));
                    assertEquals(0, source.waitFor(Duration.ofSeconds(20)), "the source exits cleanly: " + source.describe());
                }
            }

            // The sender is gone: this process alone keeps the TAP alive.
            ns.run("ip", "addr", "add", "10.0.1.1/24", "dev", IFNAME);
            ns.run("ip", "link", "set", IFNAME, "up");
            HostCommand.Result ping = ns.exec(Duration.ofSeconds(10), "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "10.0.1.2");
            assertTrue(ping.exitCode() != -1, "ping is bounded by -c and -W (HostCommand gives -1 on its timeout): " + ping);

            byte[] arp = awaitArpRequest(tun, queues, ping);
            assertTrue(allZero(arp, 0, VNET_HDR), "a plain frame from the stack starts with an all-zero 10-byte virtio_net_hdr");
            byte[] requesterMac = java.util.Arrays.copyOfRange(arp, ETH + 6, ETH + 12);

            long rxBefore = rxPackets(ns);
            ByteBuffer reply = ByteBuffer.wrap(arpReply(requesterMac));
            assertTrue(tun.writeFrame(queues.get(0), reply), "a queue accepts a frame without blocking");
            assertFalse(reply.hasRemaining(), "writeFrame consumes the whole frame");
            long rxAfter = rxPackets(ns);
            assertEquals(rxBefore + 1, rxAfter, "a frame written on a received queue fd arrives at the namespace's interface");
            String neigh = ns.run("ip", "neigh", "show", "10.0.1.2", "dev", IFNAME);
            assertTrue(neigh.contains("02:00:00:00:00:02"), "the namespace learned the stand-in's MAC from our ARP reply: " + neigh);
        } finally {
            OwnedFd.closeAll(queues);
            unix.unlinkSocket(socketPath);
        }
        counter.assertNoLeak();
    }

    private static OwnedFd acceptWithin(UnixSockets unix, OwnedFd listener, ChildJvm source) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (System.nanoTime() < deadline) {
            OwnedFd conn = unix.accept(listener);
            if (conn != null) {
                return conn;
            }
            if (!source.isAlive()) {
                break;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("the source JVM must connect to the path socket across namespaces: " + source.describe());
    }

    private static boolean endsWithNewline(ByteBuffer b) {
        return b.position() > 0 && b.get(b.position() - 1) == '\n';
    }

    /** Reads every queue (frames spread by flow hash) until an ARP request for 10.0.1.2 shows up; IPv6 noise is skipped. */
    private static byte[] awaitArpRequest(Tun tun, List<OwnedFd> queues, HostCommand.Result ping) throws InterruptedException {
        ByteBuffer buf = ByteBuffer.allocateDirect(65536 + VNET_HDR);
        List<String> skipped = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            boolean any = false;
            for (OwnedFd q : queues) {
                buf.clear();
                int n = tun.readFrame(q, buf);
                if (n == 0) {
                    continue;
                }
                any = true;
                byte[] frame = new byte[n];
                buf.flip();
                buf.get(frame);
                int ethertype = n >= ETH + 14 ? ((frame[ETH + 12] & 0xff) << 8) | (frame[ETH + 13] & 0xff) : -1;
                if (ethertype == 0x0806 && n >= ETH + 42 && frame[ETH + 21] == 1
                        && frame[ETH + 38] == 10 && frame[ETH + 39] == 0 && frame[ETH + 40] == 1 && frame[ETH + 41] == 2) {
                    return frame;
                }
                skipped.add(String.format("0x%04x/%d", ethertype, n));
            }
            if (!any) {
                Thread.sleep(10);
            }
        }
        throw new AssertionError("ping 10.0.1.2 inside the namespace must put an ARP request on one of the received queues; "
                + "frames seen (ethertype/length): " + skipped + "; ping: " + ping);
    }

    private static byte[] arpReply(byte[] requesterMac) {
        ByteBuffer f = ByteBuffer.allocate(VNET_HDR + 42);
        f.put(new byte[VNET_HDR]);
        f.put(requesterMac).put(STAND_IN_MAC).putShort((short) 0x0806);
        f.putShort((short) 1).putShort((short) 0x0800).put((byte) 6).put((byte) 4).putShort((short) 2);
        f.put(STAND_IN_MAC).put(new byte[] {10, 0, 1, 2});
        f.put(requesterMac).put(new byte[] {10, 0, 1, 1});
        return f.array();
    }

    private static long rxPackets(NetworkNamespace ns) {
        return Long.parseLong(ns.run("cat", "/sys/class/net/" + IFNAME + "/statistics/rx_packets").trim());
    }

    private static boolean allZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
