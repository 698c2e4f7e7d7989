package dev.livetap.engine.vmm;

import static dev.livetap.testbed.vmm.VmmProcess.args;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Semantic 1 on the target, the seed's v10 form, between two real {@code livetap vmm} processes: a
 * target whose netdev waits for incoming fds but whose own migration parameter {@code local} is off
 * refuses the TAP backend the source sends (it used to adopt it). The target fails the load naming
 * its switch and closes the fds it received, the source hears why on the return path, rolls back
 * and runs on its TAP, which still exists.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TargetSwitchOffTest {
    private static final String TAP = "sw0";
    private static final String REFUSAL = "loading nic0 failed: the stream carries the TAP backend of 'nic0'"
            + " (virtio-net-nic: its queue fds) but this target's switches refuse it: migration parameter 'local' is off";

    @Test
    void aTargetWhoseLocalIsOffRefusesTheBackendAndTheSourceKeepsItsTap() throws Exception {
        Path dir = Files.createTempDirectory("livetap-switch-off");
        try (NetworkNamespace ns = NetworkNamespace.create();
                VmmProcess source = VmmProcess.start(VmmProcess.Options.of(dir, "src").withPrefix(ns.wrap(List.of()))
                        .withArgs(List.of("--no-warm-up")));
                VmmProcess target = VmmProcess.start(VmmProcess.Options.of(dir, "tgt").withPrefix(ns.wrap(List.of()))
                        .withIncoming(true).withArgs(List.of("--no-warm-up")))) {
            source.connect();
            target.connect();
            source.addNic(TAP, 2, false, "52:54:00:12:34:56");
            target.addNic(TAP, 2, true, "52:54:00:12:34:56");
            source.execute("migrate-set-parameters", args().put("local", true)); // the target's stays off
            String uri = LocalMigration.defaultUri(target.qmpSocket());
            target.execute("migrate-incoming", args().put("uri", uri).put("exit-on-error", false));
            source.execute("migrate", args().put("uri", uri));

            JsonNode tgt = awaitFinal(target);
            assertEquals("failed", tgt.path("status").asText(), tgt.toString());
            assertTrue(tgt.path("error-desc").asText().contains(REFUSAL), "the target names its switch: " + tgt);
            JsonNode src = awaitFinal(source);
            assertEquals("failed", src.path("status").asText(), src.toString());
            assertTrue(src.path("error-desc").asText().contains(REFUSAL), "the source hears why: " + src);
            long resumeBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!source.runState().equals("running") && System.nanoTime() < resumeBy) {
                Thread.sleep(10);
            }
            assertEquals("running", source.runState(), "the source rolled back and runs on its TAP");
            assertTrue(ns.exec(Duration.ofSeconds(10), "ip", "link", "show", TAP).ok(),
                    "the TAP exists: the source kept its queues");
            assertTrue(target.isAlive(), "exit-on-error false: the target stays");
        } finally {
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static JsonNode awaitFinal(VmmProcess vmm) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
        JsonNode info = null;
        while (System.nanoTime() < deadline) {
            info = vmm.execute("query-migrate");
            String status = info.path("status").asText();
            if (status.equals("completed") || status.equals("failed") || status.equals("cancelled")) {
                return info;
            }
            Thread.sleep(10);
        }
        throw new AssertionError(vmm.name() + ": no final migration status within 40 s: " + info);
    }
}
