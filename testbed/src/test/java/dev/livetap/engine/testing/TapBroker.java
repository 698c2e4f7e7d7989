package dev.livetap.engine.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.TapBrokerMain;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.testbed.NetworkNamespace;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Real TAP queue fds for a test JVM that lives in the host namespace: a child JVM started inside
 * {@code ns} opens them ({@link TapBrokerMain}) and passes them back over a path socket in
 * {@code dir}. The caller owns the fds returned (the TAP lives on through them).
 */
public final class TapBroker {
    private TapBroker() {
    }

    public static List<OwnedFd> openQueues(Os os, Path dir, NetworkNamespace ns, String ifname, int queues, int flags,
            Duration timeout) throws Exception {
        Path sock = dir.resolve("broker-" + ifname + ".sock");
        List<OwnedFd> received = new ArrayList<>();
        boolean done = false;
        try (OwnedFd listener = os.unix().listen(sock, 0600);
             ChildJvm broker = ChildJvm.builder(TapBrokerMain.class).inNetns(ns)
                     .args(sock.toString(), ifname, String.valueOf(queues), String.valueOf(flags)).start()) {
            OwnedFd conn;
            long deadline = System.nanoTime() + timeout.toNanos() * 3;
            while ((conn = os.unix().accept(listener)) == null) {
                assertTrue(System.nanoTime() < deadline, "the TAP broker connects: " + broker.describe());
                Thread.sleep(2);
            }
            try (OwnedFd c = conn) {
                ByteBuffer line = ByteBuffer.allocate(256);
                while (received.size() < queues) {
                    int n = os.unix().recvmsg(c, line, received, 253);
                    assertTrue(n >= 0 && System.nanoTime() < deadline, "the broker sends " + queues + " queue fds ("
                            + new String(line.array(), 0, line.position()) + "): " + broker.describe());
                    if (n == 0) {
                        Thread.sleep(2);
                    }
                }
            }
            broker.waitFor(timeout);
            done = true;
            return received;
        } finally {
            Files.deleteIfExists(sock);
            if (!done) {
                OwnedFd.closeAll(received);
            }
        }
    }
}
