package dev.livetap.testbed.orchestration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A VMM keeps its migration capabilities from one migration to the next (as QEMU does), so the
 * driver sets {@code pause-before-switchover} on every run to what the run wants. A held run that
 * does not complete (its hold fails, the driver cancels, the source runs on with the capability
 * still on) and then an unheld run of the same VM from the same source: the second completes
 * without stopping in {@code pre-switchover}, so without a {@code migrate-continue}.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LocalMigrationPauseCapabilityTest {
    private static final String MAC = "52:54:00:12:34:58";

    @Test
    void anUnheldRunAfterAHeldOneNeedsNoMigrateContinue() throws Exception {
        try (VmmPairFixture vmms = VmmPairFixture.create("livetap-pause")) {
            VmmProcess a = vmms.source("a");
            VmmProcess held = vmms.target("held", false);
            VmmProcess unheld = vmms.target("unheld", false);
            a.connect().addNic("lt0", 1, false, MAC);
            held.connect().addNic("lt0", 1, true, MAC);
            unheld.connect().addNic("lt0", 1, true, MAC);

            // 1. held: the source stops in pre-switchover; the hold fails, the driver cancels, the source runs on
            boolean[] heldRan = new boolean[1];
            IOException thrown = null;
            try {
                LocalMigration.run(LocalMigration.Options.of(a.qmpSocket(), held.qmpSocket()).withHold((src, info) -> {
                    heldRan[0] = true;
                    throw new IOException("the hold fails (test)");
                }), line -> { });
            } catch (IOException e) {
                thrown = e;
            }
            assertTrue(heldRan[0] && thrown != null, "the first run was held, then failed");
            awaitRunning(a);
            assertTrue(pauseBeforeSwitchover(a), "the held run left the capability on: " + a.execute("query-migrate-capabilities"));

            // 2. unheld, from the same source: the driver turns the capability off, nothing waits for migrate-continue
            List<String> progress = new ArrayList<>();
            LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(a.qmpSocket(), unheld.qmpSocket())
                    .withTimeout(Duration.ofSeconds(30)), progress::add);
            assertTrue(r.succeeded(), LocalMigration.format(r));
            assertFalse(pauseBeforeSwitchover(a), "the unheld run set the capability off: " + a.execute("query-migrate-capabilities"));
            assertTrue(r.timeline().stream().noneMatch(s -> s.detail() != null && s.detail().contains("pre-switchover")),
                    "the source never stopped in pre-switchover: " + r.timeline());
            assertTrue(progress.stream().noneMatch(l -> l.contains("pre-switchover")), "progress: " + progress);
            assertEquals("running", unheld.runState(), "the VM runs on the second target");
        }
    }

    private static boolean pauseBeforeSwitchover(VmmProcess vmm) throws TimeoutException {
        for (JsonNode c : vmm.execute("query-migrate-capabilities")) {
            if ("pause-before-switchover".equals(c.path("capability").asText())) {
                return c.path("state").asBoolean();
            }
        }
        throw new AssertionError("the VMM does not report pause-before-switchover: " + vmm.execute("query-migrate-capabilities"));
    }

    /** A cancelled source resumes: wait for it, bounded. */
    private static void awaitRunning(VmmProcess vmm) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!"running".equals(vmm.runState())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the source did not run again after the cancelled migration: " + vmm.runState());
            }
            Thread.sleep(20);
        }
    }
}
