package dev.livetap.engine.vmm;

import static dev.livetap.testbed.vmm.VmmProcess.args;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
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
        try (VmmPair pair = VmmPair.start("livetap-switch-off")) {
            VmmProcess source = pair.source;
            VmmProcess target = pair.target;
            source.addNic(TAP, 2, false, "52:54:00:12:34:56");
            target.addNic(TAP, 2, true, "52:54:00:12:34:56");
            source.execute("migrate-set-parameters", args().put("local", true)); // the target's stays off
            String uri = LocalMigration.defaultUri(target.qmpSocket());
            target.execute("migrate-incoming", args().put("uri", uri).put("exit-on-error", false));
            source.execute("migrate", args().put("uri", uri));

            JsonNode tgt = VmmPair.awaitFinal(target, Duration.ofSeconds(40));
            assertEquals("failed", tgt.path("status").asText(), tgt.toString());
            assertTrue(tgt.path("error-desc").asText().contains(REFUSAL), "the target names its switch: " + tgt);
            JsonNode src = VmmPair.awaitFinal(source, Duration.ofSeconds(40));
            assertEquals("failed", src.path("status").asText(), src.toString());
            assertTrue(src.path("error-desc").asText().contains(REFUSAL), "the source hears why: " + src);
            assertEquals("running", VmmPair.awaitRunState(source, "running", Duration.ofSeconds(20)),
                    "the source rolled back and runs on its TAP");
            assertTrue(pair.linkExists(TAP), "the TAP exists: the source kept its queues");
            assertTrue(target.isAlive(), "exit-on-error false: the target stays");
        }
    }
}
