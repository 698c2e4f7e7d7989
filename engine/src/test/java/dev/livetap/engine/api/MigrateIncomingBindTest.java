package dev.livetap.engine.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The typed API's {@code migrateIncoming} completes only once the socket listens and fails with the
 * bind error otherwise (QEMU binds before it replies; issue 16's documented example used to hang).
 */
@Timeout(60)
class MigrateIncomingBindTest {

    @Test
    void anUnusablePathFailsWithTheBindErrorAndAUsableOneListensOnCompletion() throws Exception {
        Path dir = Files.createTempDirectory("livetap-bind");
        try (LivetapEngine engine = LivetapEngine.builder().systemName("bind-test").build()) {
            VirtualMachine target = engine.createVm(VmSpec.of("t").incoming(true));
            ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                    () -> target.migrateIncoming("unix:/nonexistent/dir/x.sock").toCompletableFuture()
                            .get(30, TimeUnit.SECONDS));
            LivetapException cause = assertInstanceOf(LivetapException.class, e.getCause());
            assertTrue(cause.getMessage().contains("Failed to bind socket to /nonexistent/dir/x.sock"), cause.getMessage());

            Path sock = dir.resolve("t.sock");
            target.migrateIncoming(sock).toCompletableFuture().get(30, TimeUnit.SECONDS);
            assertEquals("00010000", listeningFlags(sock), "listening as soon as migrateIncoming completed");
        } finally {
            Files.deleteIfExists(dir.resolve("t.sock"));
            Files.deleteIfExists(dir.resolve("t.sock.lock"));
            Files.deleteIfExists(dir);
        }
    }

    /** The flags column of /proc/net/unix for {@code socket} (00010000: __SO_ACCEPTCON, a listening socket). */
    private static String listeningFlags(Path socket) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length >= 8 && f[f.length - 1].equals(socket.toString())) {
                return f[3];
            }
        }
        return "absent";
    }
}
