package dev.livetap.nativeio.linux;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The source side of {@link TapHandoffTest}, run in a child JVM inside the test's namespace:
 * opens a multi-queue TAP, sends its queue fds over a path socket with one raw sendmsg, waits
 * for the receiver's acknowledgement byte, closes its own copies and exits. Every wait is bounded.
 * Arguments: socket path, interface name, queue count.
 */
public final class TapHolderMain {
    private static final long WAIT_NANOS = 20_000_000_000L;

    private TapHolderMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        Path socketPath = Path.of(args[0]);
        String ifname = args[1];
        int queues = Integer.parseInt(args[2]);
        JnaOs os = JnaOs.instance();
        UnixSockets unix = os.unix();
        List<OwnedFd> fds = os.tun().openQueues(ifname, queues, TunFlags.TAP_VNET_MQ);
        try (OwnedFd socket = unix.connect(socketPath)) {
            ByteBuffer header = ByteBuffer.wrap((ifname + " " + queues + "\n").getBytes(StandardCharsets.US_ASCII));
            long deadline = System.nanoTime() + WAIT_NANOS;
            boolean first = true;
            while (header.hasRemaining() && System.nanoTime() < deadline) {
                // the fds ride on the first byte only
                int n = unix.sendmsg(socket, header, first ? fds : List.of());
                if (n > 0) {
                    first = false;
                } else {
                    Thread.sleep(5);
                }
            }
            if (header.hasRemaining()) {
                throw new IllegalStateException("could not send the queue fds within 20 s");
            }
            System.out.println("SENT " + queues);
            ByteBuffer ack = ByteBuffer.allocate(1);
            int n = 0;
            while (n == 0 && System.nanoTime() < deadline) {
                n = unix.recvmsg(socket, ack, new ArrayList<>(), 0);
                if (n == 0) {
                    Thread.sleep(5);
                }
            }
            if (n != 1) {
                throw new IllegalStateException("no acknowledgement from the receiver (recvmsg returned " + n + ")");
            }
            System.out.println("ACKED");
        } finally {
            OwnedFd.closeAll(fds);
        }
        System.exit(0);
    }
}
