package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * QmpClient connected by path over a real AF_UNIX socket, against a QmpSession fed by a plain
 * blocking JDK server loop (a server that is not livetap's, the way QEMU is not).
 */
@Timeout(value = 20, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpClientJdkTransportTest {
    @TempDir
    Path dir;

    final ExecutorService serverThread = Executors.newSingleThreadExecutor(r -> new Thread(r, "jdk-qmp-server"));
    volatile QmpSession session;

    @AfterEach
    void tearDown() throws InterruptedException {
        serverThread.shutdownNow();
        assertTrue(serverThread.awaitTermination(5, TimeUnit.SECONDS), "the test server thread ends");
    }

    @Test
    void executesCommandsReceivesEventsAndReportsErrors() throws Exception {
        Path path = dir.resolve("qmp.sock");
        RecordingVmBackend vm = new RecordingVmBackend();
        QmpCommandRegistry registry = QmpVmCommands.register(QmpBuiltins.register(new QmpCommandRegistry(), QmpVersion.DEFAULT), vm);
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(path));
        serverThread.submit(() -> {
            try (listener; SocketChannel ch = listener.accept()) {
                Object lock = new Object();
                QmpSession s = new QmpSession("qmp#jdk", registry, QmpSession.Settings.defaults(QmpSessionTest.CLOCK), m -> {
                    try {
                        ByteBuffer b = ByteBuffer.wrap(m);
                        while (b.hasRemaining()) {
                            ch.write(b);
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, task -> {
                    synchronized (lock) {
                        task.run();
                    }
                });
                synchronized (lock) {
                    s.start();
                }
                session = s;
                ByteBuffer buf = ByteBuffer.allocate(4096);
                while (ch.read(buf.clear()) > 0) {
                    buf.flip();
                    synchronized (lock) {
                        s.receive(buf, List.of());
                    }
                }
                synchronized (lock) {
                    s.close();
                }
            }
            return null;
        });
        try (QmpClient c = QmpClient.connect(path, Duration.ofSeconds(5))) {
            assertEquals(10, c.greeting().path("QMP").path("version").path("qemu").path("major").asInt());
            c.negotiate();
            JsonNode status = c.execute("query-status", null);
            assertEquals("running", status.path("status").asText());
            QmpException e = assertThrows(QmpException.class, () -> c.execute("netdev_del", QmpJson.object().put("id", "missing")));
            assertEquals(QmpErrorClass.DeviceNotFound, e.errorClass());
            assertEquals("Device 'missing' not found", e.desc());
            session.event("MIGRATION", QmpJson.object().put("status", "completed"));
            assertEquals("completed", c.awaitEvent("MIGRATION").path("data").path("status").asText());
            dev.livetap.nativeio.OwnedFd[] pair = dev.livetap.nativeio.linux.JnaOs.instance().unix().socketPair();
            try (dev.livetap.nativeio.OwnedFd fd = pair[0]; dev.livetap.nativeio.OwnedFd other = pair[1]) {
                // the client always passes fds; this JDK stand-in server cannot receive them, so the session refuses
                QmpException none = assertThrows(QmpException.class, () -> c.getfd("x", fd),
                        "getfd whose fd did not reach the session is refused");
                assertTrue(none.desc().contains("SCM_RIGHTS") || none.desc().contains("file descriptor"), none.desc());
            }
        }
    }
}
