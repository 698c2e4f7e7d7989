package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Timeout;

/**
 * {@code migrate-incoming}'s {@code exit-on-error} (QEMU >= 9.1, default true): a target whose incoming
 * migration failed ends after its cleanup (the frontend's callback; {@code livetap vmm} then exits 1,
 * as QEMU does) after the MIGRATION {@code failed} event went out; with false it stays, status
 * {@code failed}. The failure: a peer that connects, sends nothing and goes away.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ExitOnErrorTest {
    private static final Duration T = Duration.ofSeconds(10);
    private static final String URI = "unix:/run/livetap/exit-on-error.sock";

    @ParameterizedTest
    @ValueSource(strings = {"default", "true", "false"})
    void aFailedIncomingMigrationEndsTheTargetUnlessExitOnErrorIsFalse(String exitOnError) throws Exception {
        JnaOs.instance().reactor();
        InMemoryKernel kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs tgtOs = kernel.newProcess("target");
        InMemoryOs peerOs = kernel.newProcess("peer");
        Path dir = Files.createTempDirectory("livetap-exit-on-error");
        CountDownLatch ended = new CountDownLatch(1);
        try (InMemoryReactorDriver reactors = new InMemoryReactorDriver(tgtOs, peerOs);
                EngineCore engine = EngineCore.create(EngineSettings.defaults().withOs(tgtOs)
                        .withMigrationPeers(new PeerPolicy(Set.of(0))).withSystemName("exit-on-error"))) {
            EndpointCore tgt = engine.createVm(VmSpec.of("t").incoming(true));
            try (QmpFrontend frontend = QmpFrontend.start(tgt, JnaOs.instance(), dir.resolve("t.qmp"), () -> { },
                    ended::countDown, T, T); QmpClient c = QmpClient.connect(dir.resolve("t.qmp"), T)) {
                c.negotiate();
                ObjectNode events = JsonNodeFactory.instance.objectNode();
                events.putArray("capabilities").addObject().put("capability", "events").put("state", true);
                c.execute("migrate-set-capabilities", events);
                ObjectNode args = JsonNodeFactory.instance.objectNode().put("uri", URI);
                if (!exitOnError.equals("default")) {
                    args.put("exit-on-error", Boolean.parseBoolean(exitOnError));
                }
                c.execute("migrate-incoming", args);
                OwnedFd peer = peerOs.unix().connect(Path.of(new MigrationUri.Unix("/run/livetap/exit-on-error.sock").path()));
                peer.close();
                c.awaitEvent("MIGRATION"); // setup
                String last;
                do {
                    last = c.awaitEvent("MIGRATION").path("data").path("status").asText();
                } while (!last.equals("failed"));
                boolean exits = !exitOnError.equals("false");
                assertEquals(exits, ended.await(exits ? 10 : 1, TimeUnit.SECONDS),
                        "exit-on-error " + exitOnError + ": the endpoint " + (exits ? "ends" : "stays") + " after 'failed'");
                if (!exits) {
                    assertEquals("failed", c.execute("query-migrate", null).path("status").asText());
                }
            }
        } finally {
            Files.deleteIfExists(dir.resolve("t.qmp"));
            Files.deleteIfExists(dir);
        }
    }
}
