package dev.livetap.engine.qmp;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The QMP server on the real kernel: a path socket with mode 0600, a client over AF_UNIX, and
 * (getfd with real TAP queue fds: testbed's QmpNetdevPassedTapFdsTest).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpRealSocketTest {
    static final Duration T = Duration.ofSeconds(10);

    Os os;
    Path dir;
    QmpServer server;
    RecordingVmBackend vm;
    FdCounter fds;

    @BeforeEach
    void start() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        fds = FdCounter.snapshot();
        dir = Files.createTempDirectory("livetap-qmp");
        vm = new RecordingVmBackend();
        QmpCommandRegistry registry = new QmpCommandRegistry();
        QmpBuiltins.register(registry, QmpVersion.DEFAULT);
        QmpVmCommands.register(registry, vm);
        server = QmpServer.start(os, registry, QmpServer.Config.defaults(dir.resolve("vm.qmp"), Clock.systemUTC()));
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        OwnedFd.closeAll(vm.takenFds);
        Files.deleteIfExists(dir.resolve("vm.qmp"));
        Files.deleteIfExists(dir);
        await().atMost(T).untilAsserted(() -> fds.assertNoLeak());
    }

    @Test
    void socketIsPrivateAndSpeaksQmp() throws Exception {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("vm.qmp"))),
                "the QMP socket is created with mode 0600");
        try (QmpClient c = QmpClient.connect(os, dir.resolve("vm.qmp"), T)) {
            assertTrue(c.greeting().has("QMP"), "the greeting comes first: " + c.greeting());
            QmpException early = org.junit.jupiter.api.Assertions.assertThrows(QmpException.class,
                    () -> c.execute("query-status", null), "commands before negotiation are refused");
            assertEquals(QmpErrorClass.CommandNotFound, early.errorClass(), early.getMessage());
            c.negotiate();
            JsonNode v = c.execute("query-version", null);
            assertTrue(v.path("qemu").has("major"), "query-version answers QEMU's shape: " + v);
        }
    }

    @Test
    void malformedJsonGetsAnErrorAndTheSessionGoesOn() throws Exception {
        OwnedFd raw = os.unix().connect(dir.resolve("vm.qmp"));
        try (raw) {
            String replies = exchange(raw, "{\"execute\": \"qmp_capabilities\"}\r\n{\"execute\": \"query-status\", \"id\": 7,,,}\r\n"
                    + "{\"execute\": \"query-status\", \"id\": 8}\r\n", "\"id\": 8");
            assertTrue(replies.contains("GenericError"), "malformed JSON is answered with GenericError: " + replies);
            assertTrue(replies.contains("\"id\": 8"), "the next good command is answered: " + replies);
        }
    }

    private String exchange(OwnedFd raw, String send, String until) throws InterruptedException {
        ByteBuffer out = ByteBuffer.wrap(send.getBytes(StandardCharsets.UTF_8));
        StringBuilder in = new StringBuilder();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        long deadline = System.nanoTime() + T.toNanos();
        while (System.nanoTime() < deadline && !in.toString().contains(until)) {
            if (out.hasRemaining()) {
                os.unix().sendmsg(raw, out, List.of());
            }
            buf.clear();
            List<OwnedFd> none = new ArrayList<>();
            int n = os.unix().recvmsg(raw, buf, none, 0);
            if (n > 0) {
                in.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
            } else {
                Thread.sleep(2);
            }
        }
        return in.toString();
    }
}
