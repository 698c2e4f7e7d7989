package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.tools.LivetapCommand;
import dev.livetap.testbed.testing.ChildJvm;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code livetap demo --migrations 2 --json} as a child process: real TAP, real ping, both modes,
 * one JSON object, the held freezes with their probes, and the HTML report.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 240, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DemoEndToEndTest {
    @Test
    void twoMigrationsPerModeHoldProbesInEveryFreezeAndBackendTransferAnswersThemAll(@TempDir Path tmp) throws Exception {
        Path report = tmp.resolve("report.html");
        try (ChildJvm demo = ChildJvm.builder(LivetapCommand.class)
                .args("demo", "--migrations", "2", "--probes", "8", "--json", "--report", report.toString()).start()) {
            int exit = demo.waitFor(Duration.ofSeconds(200));
            String out = demo.stdout().strip();
            assertEquals(0, exit, "demo exit 0 = every freeze held probes, backend transfer answered them and lost nothing: "
                    + demo.describe());
            assertEquals(1, out.lines().count(), "--json prints ONE object on stdout (progress on stderr): " + out);
            JsonNode j = new ObjectMapper().readTree(out);
            assertTrue(j.path("real_tap").asBoolean(), "real TAPs were used: " + out);
            assertTrue(j.path("ifindex_unchanged").asBoolean(), "backend transfer keeps the very same TAP: " + out);
            for (String mode : new String[] {"backend_transfer", "baseline"}) {
                JsonNode m = j.path(mode);
                assertEquals(2, m.path("migrations").asInt(), mode + ": " + out);
                assertEquals(2, m.path("migrations_completed").asInt(), mode + ": " + out);
                assertTrue(m.path("downtime_ms").path("p50").asDouble() > 0, mode + " downtime from the monotonic stamps: " + out);
                assertTrue(m.path("downtime_ms").path("p99").asDouble() >= m.path("downtime_ms").path("p50").asDouble(), out);
                assertTrue(m.path("frames_sent").asInt() > 100, mode + ": ping ran across the migrations: " + out);
                assertTrue(m.path("rtt_ms_max").isNumber(), out);
                // every freeze held its probes: written between two pre-switchover answers, inside the VMMs' stamps
                assertEquals(0, m.path("freezes_without_probe").asInt(), mode + ": " + out);
                assertEquals(16, m.path("probes_sent").asInt(), mode + ": 8 probes in each of 2 freezes: " + out);
                for (JsonNode run : m.path("runs")) {
                    assertEquals(8, run.path("probes_in_freeze").asInt(), mode + ": " + run);
                }
                assertTrue(m.path("held_freeze_ms").path("p50").asDouble() > 0, mode + " held freeze reported: " + out);
                assertTrue(m.path("requests_in_freeze").isInt(), mode + ": ping's in-freeze count stays reported: " + out);
            }
            JsonNode bt = j.path("backend_transfer");
            assertEquals(0, bt.path("frames_lost").asInt(), "frames sent during the freezes wait in the TAP's queues: " + out);
            assertEquals(16, bt.path("probes_answered").asInt(), "the target answers every probe written during the hold: " + out);
            assertTrue(bt.path("proves_something").asBoolean(), out);
            assertTrue(j.path("proves_something").asBoolean(), out);
            assertTrue(demo.stderr().contains("backend transfer"), "progress lines go to stderr: " + demo.stderr());
            assertEquals(report.toString(), j.path("report").asText(), out);
            String html = Files.readString(report);
            assertTrue(html.contains("<svg") && html.contains("id=\"backend_transfer\"") && html.contains("id=\"baseline\""),
                    "the report draws both modes");
            String outside = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assertFalse(outside.contains("<script") || outside.contains("http://") || outside.contains("https://"),
                    "self-contained: no script, no external asset");
        }
    }
}
