package dev.livetap.nativeio.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.TunFlags;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What the in-memory OS models beyond the shared contract: the host side of TAPs, processes, the reactor. */
@Timeout(value = 20, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class InMemoryOsTest {
    private final InMemoryKernel kernel = new InMemoryKernel();
    private final InMemoryOs os = kernel.newProcess("source");
    private final int ownedAtStart = OwnedFd.openCount();
    private final List<OwnedFd> toClose = new ArrayList<>();

    @AfterEach
    void everyFdClosed() {
        OwnedFd.closeAll(toClose);
        for (InMemoryOs p : kernel.processes()) {
            assertEquals(0, p.fds().countProcessFds(), "every fd of " + p.name() + " is closed:\n" + p.describeOpenFds());
            assertTrue(p.ledger().conserved(), "opened - closed == open in " + p.name() + ": " + p.ledger());
        }
        assertEquals(ownedAtStart, OwnedFd.openCount(), "OwnedFd.openCount is back to its start");
    }

    private List<OwnedFd> queues(String name, int n) {
        List<OwnedFd> qs = os.tun().openQueues(name, n, TunFlags.TAP_VNET_MQ);
        toClose.addAll(qs);
        return qs;
    }

    private static byte[] udpFrame(int srcPort) {
        byte[] f = new byte[60];
        f[12] = 0x08;
        f[13] = 0x00;
        f[23] = 17;
        f[26] = 10;
        f[30] = 10;
        f[33] = 2;
        f[34] = (byte) (srcPort >> 8);
        f[35] = (byte) srcPort;
        return f;
    }

    @Test
    void hostFramesSpreadOverQueuesByFlowAndCarryAVnetHeader() {
        List<OwnedFd> qs = queues("tap0", 4);
        for (int port = 0; port < 64; port++) {
            assertTrue(os.hostSend("tap0", udpFrame(port)), "a frame to an attached queue is queued");
        }
        os.hostSend("tap0", udpFrame(5));
        List<Integer> sizes = kernel.tapRingSizes("tap0");
        assertEquals(65, sizes.stream().mapToInt(Integer::intValue).sum(), "no frame is lost");
        assertTrue(sizes.stream().filter(s -> s > 0).count() > 1, "different flows use different queues: " + sizes);
        ByteBuffer into = ByteBuffer.allocate(2048);
        int read = 0;
        for (OwnedFd q : qs) {
            into.clear();
            int n;
            while ((n = os.tun().readFrame(q, into.clear())) > 0) {
                assertEquals(10 + 60, n, "a frame from an IFF_VNET_HDR queue starts with the 10-byte virtio_net_hdr");
                read++;
            }
        }
        assertEquals(65, read, "every frame is read from some queue");
        InMemoryKernel other = new InMemoryKernel();
        InMemoryOs twin = other.newProcess("twin");
        List<OwnedFd> twinQueues = twin.tun().openQueues("tap0", 4, TunFlags.TAP_VNET_MQ);
        for (int port = 0; port < 64; port++) {
            other.hostSend("tap0", udpFrame(port));
        }
        other.hostSend("tap0", udpFrame(5));
        assertEquals(sizes, other.tapRingSizes("tap0"), "the flow hash is deterministic");
        OwnedFd.closeAll(twinQueues);
    }

    @Test
    void ringHoldsFiveHundredFramesThenDrops() {
        queues("tap0", 1);
        for (int i = 0; i < 510; i++) {
            os.hostSend("tap0", udpFrame(1));
        }
        assertEquals(List.of(500), kernel.tapRingSizes("tap0"), "a queue holds txqueuelen = 500 frames");
        assertEquals(10, kernel.droppedFrames("tap0"), "the rest is dropped and counted");
    }

    @Test
    void detachPurgesTheRingAndTrafficGoesToAttachedQueues() {
        List<OwnedFd> qs = queues("tap0", 1);
        os.hostSend("tap0", udpFrame(1));
        os.tun().setQueueAttached(qs.get(0), false);
        assertEquals(0, os.tun().readFrame(qs.get(0), ByteBuffer.allocate(2048)), "detaching purges the queue's ring");
        assertFalse(os.hostSend("tap0", udpFrame(1)), "with no queue attached the device drops");
        assertEquals(1, kernel.droppedFrames("tap0"), "the drop is counted");
        os.tun().setQueueAttached(qs.get(0), true);
        assertTrue(os.hostSend("tap0", udpFrame(1)), "a re-attached queue receives again");
    }

    @Test
    void writtenFramesReachTheHostWithoutTheVnetHeader() {
        List<OwnedFd> qs = queues("tap0", 1);
        os.tun().setVnetHdrSize(qs.get(0), 12);
        byte[] eth = udpFrame(9);
        ByteBuffer out = ByteBuffer.allocate(12 + eth.length).put(new byte[12]).put(eth).flip();
        assertTrue(os.tun().writeFrame(qs.get(0), out), "a queue write succeeds");
        assertArrayEquals(eth, os.hostReceive("tap0").orElseThrow(), "the host sees the Ethernet frame, header stripped");
        assertTrue(os.hostReceive("tap0").isEmpty(), "one write, one frame");
    }

    @Test
    void deviceGoesWithItsLastQueueUnlessPersistent() {
        List<OwnedFd> qs = os.tun().openQueues("tap0", 2, TunFlags.TAP_VNET_MQ);
        qs.get(0).close();
        assertTrue(kernel.tapExists("tap0"), "a device with an open queue exists");
        qs.get(1).close();
        assertFalse(kernel.tapExists("tap0"), "closing the last queue destroys a non-persistent TAP");
        List<OwnedFd> p = os.tun().openQueues("tap1", 1, TunFlags.TAP_VNET_MQ);
        os.tun().setPersist(p.get(0), true);
        p.get(0).close();
        assertTrue(kernel.tapExists("tap1"), "a persistent TAP outlives its queues");
    }

    @Test
    void secondOpenOfASingleQueueTapIsEbusyAndFirstFlagsWin() {
        int single = TunFlags.IFF_TAP | TunFlags.IFF_NO_PI;
        toClose.addAll(os.tun().openQueues("tap0", 1, single));
        NativeException e = assertThrows(NativeException.class, () -> os.tun().openQueues("tap0", 1, single), "EBUSY");
        assertEquals(16, e.errno(), e.getMessage());
        List<OwnedFd> qs = queues("tap2", 1);
        toClose.addAll(os.tun().openQueues("tap2", 1, TunFlags.IFF_TAP | TunFlags.IFF_MULTI_QUEUE));
        assertEquals(TunFlags.TAP_VNET_MQ, os.tun().info(qs.get(0)).flags(), "the first TUNSETIFF's flags win");
    }

    @Test
    void fdsTravelBetweenProcessesThroughAPathListener() {
        InMemoryOs target = kernel.newProcess("target", new PeerCredentials(4242, 7, 8));
        Path path = Path.of("/run/livetap/migrate.sock");
        OwnedFd listener = target.unix().listen(path, 0600);
        toClose.add(listener);
        assertThrows(NativeException.class, () -> os.unix().listen(path, 0600), "a bound path is in use");
        assertNull(target.unix().accept(listener), "no pending connection: null");
        OwnedFd client = os.unix().connect(path);
        toClose.add(client);
        OwnedFd server = target.unix().accept(listener);
        toClose.add(server);
        assertEquals(new PeerCredentials(4242, 7, 8), os.unix().peerCredentials(client), "SO_PEERCRED names the target");
        assertEquals(os.credentials(), target.unix().peerCredentials(server), "and the target sees the source");

        List<OwnedFd> qs = queues("tap0", 1);
        os.unix().sendmsg(client, ByteBuffer.wrap(new byte[] {1}), qs);
        List<OwnedFd> got = new ArrayList<>();
        assertEquals(1, target.unix().recvmsg(server, ByteBuffer.allocate(4), got, 253), "one byte");
        toClose.addAll(got);
        assertEquals(FdKind.TUN, target.fds().kind(got.get(0)), "the target holds a TUN queue fd");
        assertEquals("tap0", target.tun().info(got.get(0)).name(), "of the same device");
        qs.get(0).close();
        assertTrue(kernel.tapExists("tap0"), "the source closing its fd leaves the device to the target's");
        assertEquals(1, target.fds().countProcessFds() - 2, "the target's table has listener, server and the queue");
    }

    @Test
    void closingWithUnreadDataResetsThePeer() {
        OwnedFd[] s = os.unix().socketPair();
        toClose.add(s[0]);
        os.unix().sendmsg(s[0], ByteBuffer.wrap(new byte[] {1}), List.of());
        s[1].close();
        NativeException e = assertThrows(NativeException.class,
                () -> os.unix().recvmsg(s[0], ByteBuffer.allocate(4), new ArrayList<>(), 0), "ECONNRESET");
        assertEquals(104, e.errno(), e.getMessage());
        assertEquals(-1, os.unix().recvmsg(s[0], ByteBuffer.allocate(4), new ArrayList<>(), 0), "then EOF");
    }

    @Test
    void fullSocketBufferBlocksAndWriteReadinessReturnsWhenDrained() {
        kernel.socketBufferBytes(4);
        OwnedFd[] s = os.unix().socketPair();
        toClose.add(s[0]);
        toClose.add(s[1]);
        int[] ready = new int[1];
        Reactor.Registration reg = os.reactor().register(s[0], Reactor.WRITE, ops -> ready[0] = ops);
        assertEquals(4, os.unix().sendmsg(s[0], ByteBuffer.wrap(new byte[6]), List.of()), "a partial send fills the buffer");
        assertEquals(0, os.unix().sendmsg(s[0], ByteBuffer.wrap(new byte[2]), List.of()), "a full buffer would block: 0");
        ready[0] = 0;
        assertFalse(os.reactor().runOnce(), "no WRITE readiness while full");
        os.unix().recvmsg(s[1], ByteBuffer.allocate(2), new ArrayList<>(), 0);
        assertTrue(os.reactor().runOnce(), "draining makes the writer ready");
        assertEquals(Reactor.WRITE, ready[0], "WRITE readiness after draining");
        reg.cancel();
    }

    @Test
    void reactorRunsTasksThenReadinessInRegistrationOrderAndCatchesSpinningHandlers() {
        OwnedFd[] a = os.unix().socketPair();
        OwnedFd[] b = os.unix().socketPair();
        toClose.addAll(List.of(a[0], a[1], b[0], b[1]));
        List<String> log = new ArrayList<>();
        os.reactor().register(b[1], Reactor.READ, ops -> log.add("b"));
        Reactor.Registration ra = os.reactor().register(a[1], Reactor.READ, ops -> log.add("a"));
        os.reactor().execute(() -> log.add("task"));
        os.unix().sendmsg(a[0], ByteBuffer.wrap(new byte[] {1}), List.of());
        os.unix().sendmsg(b[0], ByteBuffer.wrap(new byte[] {1}), List.of());
        assertTrue(os.reactor().runOnce(), "a step with work reports progress");
        assertEquals(List.of("task", "b", "a"), log, "tasks first, then readiness in registration order");
        os.reactor().maxStepsPerRun(100);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> os.reactor().runUntilIdle(),
                "a handler that never consumes its readiness keeps a level-triggered reactor busy");
        assertTrue(e.getMessage().contains("did not go idle"), e.getMessage());
        ra.cancel();
        os.reactor().close();
    }

    @Test
    void virtualClockMovesOnlyWhenAdvanced() {
        long t0 = os.clock().nanos();
        os.virtualClock().advance(Duration.ofMillis(5));
        assertEquals(t0 + 5_000_000, os.clock().nanos(), "time moves by exactly what was advanced");
        assertEquals(os.clock().nanos(), kernel.newProcess("other").clock().nanos(), "CLOCK_MONOTONIC is host-wide");
        assertThrows(IllegalArgumentException.class, () -> os.virtualClock().advance(Duration.ofMillis(-1)),
                "a monotonic clock never goes back");
    }

    @Test
    void fakeDescriptorsReportTheirKindAndDupsShareTheFile() {
        OwnedFd devNull = os.openFake(FdKind.OTHER_CHAR_DEVICE, "/dev/null");
        OwnedFd dup = devNull.dup();
        toClose.addAll(List.of(devNull, dup));
        assertEquals(FdKind.OTHER_CHAR_DEVICE, os.fds().kind(devNull), "fstat reports the fake's kind");
        assertTrue(os.fds().sameOpenFile(devNull, dup), "a dup is the same open file");
        assertTrue(os.describeOpenFds().contains("/dev/null"), "the fd listing names each file");
    }
}
