package dev.livetap.testbed.orchestration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link LocalMigration.SwitchoverGate} on a real VMM pair: one source and three incoming targets
 * (started at once, so the test pays for one start). A gate that refuses leaves the source running
 * with no migration begun, and the result says why; a migration that fails after admission (its
 * hold throws, the driver cancels) releases once; a completed one is admitted after the target
 * listens and before the source stops, and released once, after the target runs, with the downtime.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LocalMigrationSwitchoverGateTest {
    private static final String MAC = "52:54:00:12:34:57";

    @Test
    void theGateAdmitsOnlyTheSwitchOverAndIsReleasedOnceWhateverTheEnd() throws Exception {
        try (VmmPairFixture vmms = VmmPairFixture.create("livetap-gate")) {
            VmmProcess a = vmms.source("a");
            List<VmmProcess> targets = new ArrayList<>();
            for (String name : List.of("refused", "failing", "target")) {
                targets.add(vmms.target(name, false));
            }
            a.connect().addNic("lt0", 1, false, MAC);
            for (VmmProcess t : targets) {
                t.connect().addNic("lt0", 1, true, MAC);
            }

            // 1. refused: no migrate reaches the source, which runs on; the result says why
            List<Double> releases = Collections.synchronizedList(new ArrayList<>());
            LocalMigration.Result refused = LocalMigration.run(LocalMigration.Options.of(a.qmpSocket(), targets.get(0).qmpSocket())
                    .withSwitchoverGate(maxWait -> {
                        throw new TimeoutException("no freeze permit (test)");
                    }), line -> { });
            assertEquals(LocalMigration.REFUSED, refused.status(), LocalMigration.format(refused));
            assertFalse(refused.completed());
            assertTrue(refused.error().contains("no freeze permit (test)"), refused.error());
            assertEquals("running", a.runState(), "the refused source runs on");
            assertFalse(a.execute("query-migrate").has("status"), "no migration began on the source: " + a.execute("query-migrate"));
            assertTrue(releases.isEmpty(), "a refused gate has nothing to release");

            // 2. admitted, then failed (the hold throws; the driver cancels): released once, with no downtime
            IOException thrown = null;
            try {
                LocalMigration.run(LocalMigration.Options.of(a.qmpSocket(), targets.get(1).qmpSocket())
                        .withSwitchoverGate(maxWait -> releases::add)
                        .withHold((src, info) -> {
                            throw new IOException("the hold fails (test)");
                        }), line -> { });
            } catch (IOException e) {
                thrown = e;
            }
            assertTrue(thrown != null && thrown.getMessage().contains("the hold fails"), "the hold's failure reaches the caller");
            assertEquals(List.of(-1.0), releases, "released once, downtime unknown");
            awaitRunning(a);

            // 3. completed: admitted after the target listens and before the source stopped; released once after it runs
            releases.clear();
            List<String> order = Collections.synchronizedList(new ArrayList<>());
            long[] at = new long[3];
            LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(a.qmpSocket(), targets.get(2).qmpSocket())
                    .withSwitchoverGate(maxWait -> {
                        at[0] = System.nanoTime(); // CLOCK_MONOTONIC, as the VMMs' stamps
                        order.add("gate");
                        assertTrue(maxWait.toMillis() > 0, "the gate may wait what is left of the timeout: " + maxWait);
                        at[2] = "running".equals(a.runState()) ? 1 : 0;
                        return downtime -> {
                            at[1] = System.nanoTime();
                            order.add("release");
                            releases.add(downtime);
                        };
                    }).withHold((src, info) -> { }), order::add); // held, as step 2: the gate spans the hold too
            assertTrue(r.succeeded(), LocalMigration.format(r));
            assertEquals(1, at[2], "the source ran when the gate was asked");
            int gate = order.indexOf("gate");
            assertTrue(order.indexOf("target: migrate-incoming " + r.uri()) < gate, "the target listened first: " + order);
            assertTrue(order.stream().filter(l -> l.startsWith("source: migrate")).allMatch(l -> order.indexOf(l) > gate),
                    "migrate after the gate: " + order);
            long stopped = r.sourceInfo().path("x-source-stopped-ns").asLong();
            long started = r.targetInfo().path("x-target-started-ns").asLong();
            assertTrue(stopped > 0 && started > 0, "the VMMs' stamps: " + r.sourceInfo() + " " + r.targetInfo());
            assertTrue(at[0] < stopped, "admitted before the source stopped");
            assertTrue(at[1] > started, "released after the target ran again");
            assertEquals(List.of(r.downtimeMs()), releases, "released once, with the run's downtime");
            assertEquals(1, order.stream().filter("release"::equals).count());
        }
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
