package dev.livetap.testbed.selftest;

import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import dev.livetap.nativeio.linux.JnaOs;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The two processes of the selftest's hand-off, each started inside the selftest's private
 * namespace (design decision 6). {@code source SOCKET IFNAME QUEUES}: opens the TAP, sends its
 * queue fds in one frame of the framing layer, waits for the acknowledgement, closes its copies.
 * {@code target SOCKET IFNAME QUEUES}: receives and checks the fds, acknowledges, then reads the
 * queues until an ARP request or IPv4 frame arrives. Every wait is bounded; lines on stdout
 * report progress to the parent.
 */
public final class HandoffChild {
    static final long WAIT_SECONDS = 20;
    private static final int VNET_HDR = 10;

    private HandoffChild() {
    }

    public static void main(String[] args) throws Exception {
        String role = args[0];
        Path socket = Path.of(args[1]);
        String ifname = args[2];
        int queues = Integer.parseInt(args[3]);
        Os os = JnaOs.instance();
        int code = "source".equals(role) ? source(os, socket, ifname, queues) : target(os, socket, ifname, queues);
        System.out.flush();
        System.exit(code);
    }

    private static int source(Os os, Path socketPath, String ifname, int queues) throws Exception {
        List<OwnedFd> fds = os.tun().openQueues(ifname, queues, TunFlags.TAP_VNET_MQ);
        try (OwnedFd listener = os.unix().listen(socketPath, 0600)) {
            System.out.println("OPENED " + ifname + " " + queues);
            System.out.flush();
            OwnedFd conn = null;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
            while ((conn = os.unix().accept(listener)) == null) {
                if (System.nanoTime() > deadline) {
                    System.out.println("ERROR no target connected within " + WAIT_SECONDS + " s");
                    return 1;
                }
                Thread.sleep(2);
            }
            FrameChannel channel = UnixFrameChannel.open(os, conn, ChannelLimits.DEFAULT);
            CompletableFuture<Frame> ack = receiveOne(channel);
            channel.send((ifname + " " + queues).getBytes(StandardCharsets.US_ASCII), fds)
                    .toCompletableFuture().get(WAIT_SECONDS, TimeUnit.SECONDS);
            System.out.println("SENT " + fds.size());
            try (Frame a = ack.get(WAIT_SECONDS, TimeUnit.SECONDS)) {
                System.out.println("ACKED " + new String(a.payload(), StandardCharsets.US_ASCII));
            }
            channel.close();
        } finally {
            OwnedFd.closeAll(fds);
            os.unix().unlinkSocket(socketPath);
        }
        return 0;
    }

    private static int target(Os os, Path socketPath, String ifname, int queues) throws Exception {
        FrameChannel channel = UnixFrameChannel.open(os, os.unix().connect(socketPath), ChannelLimits.DEFAULT);
        CompletableFuture<Frame> incoming = receiveOne(channel);
        try (Frame frame = incoming.get(WAIT_SECONDS, TimeUnit.SECONDS)) {
            List<OwnedFd> fds = frame.fds();
            if (fds.size() != queues) {
                System.out.println("ERROR expected " + queues + " fds, got " + fds.size());
                return 1;
            }
            for (int i = 0; i < fds.size(); i++) {
                FdKind kind = os.fds().kind(fds.get(i));
                TunInfo info = os.tun().info(fds.get(i));
                if (kind != FdKind.TUN || !info.name().equals(ifname) || info.flags() != TunFlags.TAP_VNET_MQ) {
                    System.out.printf("ERROR fd %d: %s %s flags 0x%x%n", i, kind, info.name(), info.flags());
                    return 1;
                }
                for (int j = 0; j < i; j++) {
                    if (os.fds().sameOpenFile(fds.get(i), fds.get(j))) {
                        System.out.println("ERROR fds " + j + " and " + i + " are the same open file");
                        return 1;
                    }
                }
            }
            System.out.printf("RECEIVED %s %d 0x%x%n", ifname, fds.size(), os.tun().info(fds.get(0)).flags());
            channel.send("ack".getBytes(StandardCharsets.US_ASCII), List.of()).toCompletableFuture()
                    .get(WAIT_SECONDS, TimeUnit.SECONDS);
            channel.close();
            System.out.flush();
            return readUntilFrame(os, fds) ? 0 : 1;
        }
    }

    /** Polls every queue (frames spread by flow hash) until an ARP or IPv4 frame; IPv6 noise is skipped. */
    private static boolean readUntilFrame(Os os, List<OwnedFd> fds) throws InterruptedException {
        ByteBuffer buf = ByteBuffer.allocateDirect(65536);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (System.nanoTime() < deadline) {
            for (int q = 0; q < fds.size(); q++) {
                buf.clear();
                int n = os.tun().readFrame(fds.get(q), buf);
                if (n >= VNET_HDR + 14) {
                    int ethertype = ((buf.get(VNET_HDR + 12) & 0xff) << 8) | (buf.get(VNET_HDR + 13) & 0xff);
                    if (ethertype == 0x0806 || ethertype == 0x0800) {
                        System.out.printf("FRAME queue=%d type=%s bytes=%d%n", q, ethertype == 0x0806 ? "ARP" : "IPv4", n);
                        return true;
                    }
                }
            }
            Thread.sleep(1);
        }
        System.out.println("ERROR no ARP or IPv4 frame within " + WAIT_SECONDS + " s");
        return false;
    }

    private static CompletableFuture<Frame> receiveOne(FrameChannel channel) {
        CompletableFuture<Frame> first = new CompletableFuture<>();
        channel.start(new FrameChannel.FrameHandler() {
            @Override
            public void onFrame(Frame frame) {
                if (!first.complete(frame)) {
                    frame.close();
                }
            }

            @Override
            public void onClosed(Throwable cause) {
                first.completeExceptionally(cause != null ? cause : new IllegalStateException("peer closed before sending a frame"));
            }
        });
        return first;
    }
}
