package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.api.LivetapException;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code migrate fd:NAME} where NAME is an AF_UNIX stream socket connected to the target (libvirt's
 * usual form; design semantic 1 accepts it, with {@code local} on too): the migration completes over
 * it and the socket is closed with it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FdMigrationUriTest {
    private static final long T = 10;

    @Test
    void aMigrationOverAPassedUnixSocketCompletes() throws Exception {
        Path dir = Files.createTempDirectory("livetap-fd-uri");
        Path sock = dir.resolve("in.sock");
        JnaOs os = JnaOs.instance();
        os.reactor();
        int owned = OwnedFd.openCount();
        try (EngineCore srcEngine = EngineCore.create(EngineSettings.defaults().withSystemName("fd-src"));
                EngineCore tgtEngine = EngineCore.create(EngineSettings.defaults().withSystemName("fd-tgt"))) {
            EndpointCore target = tgtEngine.createVm(VmSpec.of("t").incoming(true));
            EndpointCore source = srcEngine.createVm(VmSpec.of("s"));
            target.migrateIncoming("unix:" + sock).toCompletableFuture().get(T, TimeUnit.SECONDS);
            source.setParameters(Map.of("local", true)).toCompletableFuture().get(T, TimeUnit.SECONDS);

            OwnedFd connected = os.unix().connect(sock);
            source.migrate("fd:mig", connected).toCompletableFuture().get(T, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(T);
            MigrationInfo s = source.query().toCompletableFuture().get(T, TimeUnit.SECONDS);
            while (!s.status().isFinal() && System.nanoTime() < deadline) {
                Thread.sleep(10);
                s = source.query().toCompletableFuture().get(T, TimeUnit.SECONDS);
            }
            assertEquals("completed", s.status().qmpName(), "over the passed socket: " + s.toQmp());
            assertEquals(Map.of("running", false, "status", "postmigrate"), source.status().toCompletableFuture().get(T, TimeUnit.SECONDS));
        } finally {
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir.resolve("in.sock.lock"));
            Files.deleteIfExists(dir);
        }
        assertEquals(owned, OwnedFd.openCount(), "the passed socket was closed with the migration");
    }
}
