package dev.livetap.nativeio.linux;

import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * Opens TAP queues inside a private namespace on behalf of a test JVM that lives in the host
 * namespace, and sends them over a path socket: one status line, {@code OK n} or
 * {@code ERR class errno message}, whose bytes carry the fds in chunks of at most 253 per byte.
 * Arguments: socket path, interface name, queue count, TUNSETIFF flags (decimal).
 */
public final class TapBrokerMain {
    private static final long WAIT_NANOS = 20_000_000_000L;

    private TapBrokerMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        JnaOs os = JnaOs.instance();
        UnixSockets unix = os.unix();
        List<OwnedFd> fds = List.of();
        String status;
        try {
            fds = os.tun().openQueues(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            status = "OK " + fds.size() + "\n";
        } catch (NativeException e) {
            status = "ERR " + e.getClass().getSimpleName() + " " + e.errno() + " " + e.getMessage().replace('\n', ' ') + "\n";
        }
        try (OwnedFd socket = unix.connect(Path.of(args[0]))) {
            byte[] line = status.getBytes(StandardCharsets.UTF_8);
            int chunks = (fds.size() + UnixSockets.SCM_MAX_FD - 1) / UnixSockets.SCM_MAX_FD;
            if (line.length < chunks) {
                throw new IllegalStateException("status line too short to carry " + chunks + " fd chunks");
            }
            long deadline = System.nanoTime() + WAIT_NANOS;
            for (int i = 0; i < line.length; i++) {
                List<OwnedFd> chunk = i < chunks
                        ? fds.subList(i * UnixSockets.SCM_MAX_FD, Math.min(fds.size(), (i + 1) * UnixSockets.SCM_MAX_FD))
                        : List.of();
                ByteBuffer one = ByteBuffer.wrap(line, i, 1);
                while (unix.sendmsg(socket, one, chunk) == 0) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the test JVM did not read the status line within 20 s");
                    }
                    Thread.sleep(2);
                }
            }
        } finally {
            OwnedFd.closeAll(fds);
        }
        System.exit(0);
    }
}
