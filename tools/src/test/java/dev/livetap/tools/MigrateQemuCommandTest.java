package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code livetap migrate} against two real QEMU processes started as docs/operations.md ("QEMU")
 * describes, through the command line's own code path: QEMU 7.2 offers no {@code local}, so
 * {@code auto} picks {@code new-tap}; the switch command runs after the source completed and
 * before {@code cont}; the target runs, the source is {@code postmigrate}. {@code --method local}
 * is refused before anything changes; a failing switch leaves the target paused and exits 1.
 * (The QEMUs run a firmware that only halts: the guest's network is RealGuest's business.)
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MigrateQemuCommandTest {
    @Test
    void autoPicksNewTapAgainstQemuAndRunsTheSwitchBetweenCompletedAndCont(@TempDir Path dir) throws Exception {
        assumeTrue(QemuProcess.isAvailable(), () -> "skipped: " + QemuProcess.unavailabilityCause().orElseThrow());
        try (QemuProcess source = QemuProcess.start(dir, "src", false, false, List.of());
                QemuProcess target = QemuProcess.start(dir, "tgt", true, true, List.of())) {
            assertTrue(source.awaitQmpSocket(Duration.ofSeconds(30)), () -> source.process().describe());
            assertTrue(target.awaitQmpSocket(Duration.ofSeconds(30)), () -> target.process().describe());

            CliRun refused = migrate("--source", source.qmpSocket().toString(), "--target", target.qmpSocket().toString(),
                    "--method", "local");
            assertEquals(ExitCodes.FAILED, refused.code(), "method local against a QEMU without it fails: " + refused);
            assertTrue(refused.err().contains("offers no local or backend-transfer"), "the error says why: " + refused.err());
            assertEquals("running", status(source), "a refused method changes nothing on the source");

            Path marker = dir.resolve("switched");
            CliRun ok = migrate("--source", source.qmpSocket().toString(), "--target", target.qmpSocket().toString(), "--json",
                    "--switch", "echo $(date +%s.%N) > " + marker);
            assertEquals(ExitCodes.OK, ok.code(), "the migration completes: " + ok);
            JsonNode r = new ObjectMapper().readTree(ok.out());
            System.out.println("MigrateQemuCommandTest: " + ok.err().strip().replace("\n", " | ") + "\n  timeline " + r.path("timeline"));
            assertEquals("completed", r.path("status").asText(), ok.out());
            assertEquals("new-tap", r.path("method").asText(), "QEMU 7.2 offers no local: auto picks new-tap");
            assertTrue(r.path("method_reason").asText().startsWith("probed"), r.path("method_reason").asText());
            assertTrue(Files.exists(marker), "the switch command ran");
            assertTrue(r.path("resumed_by_cont").asBoolean(), "the -S target was continued by the driver: " + ok.out());
            List<String> order = new ArrayList<>();
            for (JsonNode s : r.path("timeline")) {
                order.add(s.path("side").asText() + " " + s.path("event").asText() + " " + s.path("detail").asText());
            }
            int srcCompleted = order.indexOf("source MIGRATION completed");
            int switched = indexStarting(order, "driver switch network switched");
            int cont = indexStarting(order, "driver cont");
            int resume = order.indexOf("target RESUME ");
            int stop = order.indexOf("source STOP ");
            assertTrue(stop >= 0 && srcCompleted >= 0 && switched >= 0 && cont >= 0 && resume >= 0, "every step: " + order);
            assertTrue(stop < srcCompleted && srcCompleted < switched && switched < cont && cont < resume,
                    "STOP, completed, switch, cont, RESUME in that order: " + order);
            double stopToResume = r.path("stop_to_resume_ms").asDouble();
            assertTrue(stopToResume > 0, "the common downtime is measured: " + ok.out());
            assertEquals((r.path("resume_wall_us").asLong() - r.path("stop_wall_us").asLong()) / 1000.0, stopToResume, 0.001,
                    "stop -> resume is the two events' timestamps apart");
            assertTrue(r.path("vmm_downtime_ms").asDouble() >= 0, "QEMU's own downtime is reported: " + ok.out());
            assertTrue(r.path("total_ms").asLong() > 0, "QEMU's total time is reported: " + ok.out());
            assertEquals(-1.0, r.path("downtime_ms").asDouble(), 0.0, "QEMU has no CLOCK_MONOTONIC stamps");
            assertEquals("running", status(target), "the target runs after cont");
            assertEquals("postmigrate", status(source), "the source stays postmigrate");
        }
    }

    @Test
    void aFailingSwitchLeavesTheTargetPausedAndExitsOne(@TempDir Path dir) throws Exception {
        assumeTrue(QemuProcess.isAvailable(), () -> "skipped: " + QemuProcess.unavailabilityCause().orElseThrow());
        try (QemuProcess source = QemuProcess.start(dir, "src", false, false, List.of());
                QemuProcess target = QemuProcess.start(dir, "tgt", true, true, List.of())) {
            assertTrue(source.awaitQmpSocket(Duration.ofSeconds(30)), () -> source.process().describe());
            assertTrue(target.awaitQmpSocket(Duration.ofSeconds(30)), () -> target.process().describe());
            CliRun failed = migrate("--source", source.qmpSocket().toString(), "--target", target.qmpSocket().toString(),
                    "--method", "new-tap", "--switch", "echo no such TAP >&2; exit 3");
            assertEquals(ExitCodes.FAILED, failed.code(), "a failed switch is a failed command: " + failed);
            assertTrue(failed.out().contains("network switch failed") && failed.out().contains("no such TAP"),
                    "the summary names the switch and its output: " + failed.out());
            assertEquals("paused", status(target), "no cont after a failed switch");
        }
    }

    private static String status(QemuProcess q) throws Exception {
        try (QmpClient c = QmpClient.connect(q.qmpSocket(), Duration.ofSeconds(10))) {
            c.negotiate();
            return c.execute("query-status", null).path("status").asText();
        }
    }

    private static int indexStarting(List<String> list, String prefix) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }

    private static CliRun migrate(String... args) {
        List<String> all = new ArrayList<>(List.of("migrate"));
        all.addAll(List.of(args));
        return CliRun.of(all);
    }
}
