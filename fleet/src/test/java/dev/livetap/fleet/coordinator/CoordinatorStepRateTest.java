package dev.livetap.fleet.coordinator;

import static dev.livetap.fleet.testing.CoordinatorAsk.askAsync;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Reply;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * How many VM steps (start + finish: two journaled events each) the coordinator records per second
 * into the H2 file, asked by stub agents with 64 asks in flight. Prints the figure (issue 18's goal
 * B is 1,000 steps/s); asserts only that every step was recorded once.
 */
class CoordinatorStepRateTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int STEPS = 2000;
    private static final int IN_FLIGHT = 64;

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void everyStepIsRecordedOnceAndTheRateIsPrinted() throws Exception {
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal")), TIMEOUT)) {
            List<String> hosts = List.of("host-a");
            assertInstanceOf(UpgradeCoordinator.PlanAccepted.class, askAsync(node, r -> new UpgradeCoordinator.SubmitPlan(
                    new Plan("0.2.0", hosts, 1, STEPS, 10.0), r)).get(60, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            List<CompletableFuture<Reply>> window = new ArrayList<>();
            for (int i = 0; i < STEPS; i++) {
                String vm = "vm-" + i;
                window.add(askAsync(node, r -> new UpgradeCoordinator.StartStep("host-a", vm, r)).thenCompose(granted -> {
                    String id = ((UpgradeCoordinator.StepGranted) granted).migrationId();
                    return askAsync(node, r -> new UpgradeCoordinator.FinishStep(vm, id, true, "stub", r));
                }));
                if (window.size() == IN_FLIGHT) {
                    for (CompletableFuture<Reply> f : window) {
                        assertInstanceOf(UpgradeCoordinator.StepFinished.class, f.get(60, TimeUnit.SECONDS));
                    }
                    window.clear();
                }
            }
            for (CompletableFuture<Reply> f : window) {
                assertInstanceOf(UpgradeCoordinator.StepFinished.class, f.get(60, TimeUnit.SECONDS));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            UpgradeCoordinator.Status status = (UpgradeCoordinator.Status) askAsync(node, UpgradeCoordinator.GetStatus::new)
                    .get(60, TimeUnit.SECONDS);
            assertEquals(STEPS, status.finished().size());
            assertEquals(0, status.open().size());
            System.out.printf(java.util.Locale.ROOT, "coordinator: %d VM steps (%d journaled events) in %.2f s = %.0f steps/s, "
                    + "%d asks in flight, H2 file; load %s%n", STEPS, 2 * STEPS, seconds, STEPS / seconds, IN_FLIGHT,
                    java.nio.file.Files.readString(Path.of("/proc/loadavg")).trim());
        }
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void batchedStepsAreRecordedOnceEachWithDistinctIdsAndTheRateIsPrinted() throws Exception {
        int batch = 100;
        try (FleetNode node = FleetNode.start(FleetConfig.singleNode(dir.resolve("journal-batched")), TIMEOUT)) {
            assertInstanceOf(UpgradeCoordinator.PlanAccepted.class, askAsync(node, r -> new UpgradeCoordinator.SubmitPlan(
                    new Plan("0.2.0", List.of("host-a"), 1, STEPS, 10.0), r)).get(60, TimeUnit.SECONDS));
            java.util.Set<String> ids = new java.util.HashSet<>();
            long t0 = System.nanoTime();
            for (int first = 0; first < STEPS; first += batch) {
                List<String> vms = new ArrayList<>();
                for (int i = first; i < first + batch; i++) {
                    vms.add("vm-" + i);
                }
                UpgradeCoordinator.Batch granted = assertInstanceOf(UpgradeCoordinator.Batch.class,
                        askAsync(node, r -> new UpgradeCoordinator.StartSteps("host-a", vms, r)).get(60, TimeUnit.SECONDS));
                List<UpgradeCoordinator.Finish> ends = new ArrayList<>();
                for (Reply g : granted.replies()) {
                    UpgradeCoordinator.StepGranted s = assertInstanceOf(UpgradeCoordinator.StepGranted.class, g);
                    ids.add(s.migrationId());
                    ends.add(new UpgradeCoordinator.Finish(s.vm(), s.migrationId(), true, "stub"));
                }
                UpgradeCoordinator.Batch finished = assertInstanceOf(UpgradeCoordinator.Batch.class,
                        askAsync(node, r -> new UpgradeCoordinator.FinishSteps(ends, r)).get(60, TimeUnit.SECONDS));
                finished.replies().forEach(f -> assertInstanceOf(UpgradeCoordinator.StepFinished.class, f));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            UpgradeCoordinator.Status status = (UpgradeCoordinator.Status) askAsync(node, UpgradeCoordinator.GetStatus::new)
                    .get(60, TimeUnit.SECONDS);
            assertEquals(STEPS, ids.size(), "every VM step has its own migration id");
            assertEquals(STEPS, status.finished().size());
            System.out.printf(java.util.Locale.ROOT, "coordinator, batched: %d VM steps in batches of %d (%d writes) in %.2f s = "
                    + "%.0f steps/s, H2 file; load %s%n", STEPS, batch, 2 * STEPS / batch, seconds, STEPS / seconds,
                    java.nio.file.Files.readString(Path.of("/proc/loadavg")).trim());
        }
    }
}
