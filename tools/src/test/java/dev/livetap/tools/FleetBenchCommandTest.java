package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.testing.ChildJvm;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code livetap fleet bench} (K curve of two budgets) and {@code livetap fleet soak} as a user runs
 * them, at tiny sizes: the promised JSON members, every migration completed and no fd leaked.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 600, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FleetBenchCommandTest {
    private static final Duration WAIT = Duration.ofSeconds(540);
    private static final List<String> REQUIRED = List.of("completed", "migrations_per_s", "downtime_ms", "fds_leaked", "wall_ms",
            "budget");

    private static JsonNode run(String... args) throws Exception {
        try (ChildJvm cli = ChildJvm.builder(LivetapCommand.class).jvmOption("-Dlogback.configurationFile=logback.xml").args(args)
                .start()) {
            int code = cli.waitFor(WAIT);
            String[] lines = cli.stdout().strip().split("\n");
            assertTrue(lines[lines.length - 1].startsWith("{"), cli.describe());
            JsonNode r = Json.MAPPER.readTree(lines[lines.length - 1]);
            System.out.println(String.join(" ", args) + " (exit " + code + "): " + r);
            r = ((com.fasterxml.jackson.databind.node.ObjectNode) r).put("exit_code", code);
            return r;
        }
    }

    private static void assertRun(JsonNode r, String budget, int migrations) {
        for (String field : REQUIRED) {
            assertTrue(r.has(field), "the report has " + field + ": " + r);
        }
        assertEquals(budget, r.path("budget").path("asked").asText(), r.toString());
        assertEquals(migrations, r.path("completed").asInt(), r.toString());
        assertEquals(0, r.path("failed").asInt(), r.toString());
        assertEquals(0, r.path("fds_leaked").asInt(), "no TAP fd left behind, no fd gained by an agent or the bench: " + r);
        JsonNode d = r.path("downtime_ms");
        assertTrue(d.path("p50").asDouble() > 0 && d.path("p50").asDouble() <= d.path("p99").asDouble()
                && d.path("p99").asDouble() <= d.path("max").asDouble(), r.toString());
        assertTrue(r.path("migrations_per_s").asDouble() > 0 && r.path("wall_ms").asLong() > 0, r.toString());
        assertTrue(r.path("max_frozen_at_once_per_host").asInt() <= r.path("budget").path("k").asInt(),
                "the VMMs' stamps never show more than K frozen at once: " + r);
    }

    @Test
    @Tag("long") // about 40 s, out of CI for its time budget; AgentFleetBenchTest (fleet) runs the agents bench in CI
    void benchWithTwoBudgetsPrintsOneRunPerBudgetAndTheCurve() throws Exception {
        JsonNode r = run("fleet", "bench", "--hosts", "1", "--vms-per-host", "2", "--rounds", "1", "--warmup-rounds", "1",
                "--budget", "1,2", "--drivers", "2", "--agent-heap-mb", "96", "--timeout", "60", "--json");
        assertEquals(ExitCodes.OK, r.path("exit_code").asInt(), r.toString());
        assertEquals(2, r.path("runs").size(), r.toString());
        assertRun(r.path("runs").get(0), "1", 2);
        assertRun(r.path("runs").get(1), "2", 2);
        assertEquals(2, r.path("curve").size(), r.toString());
        assertEquals("2", r.path("curve").get(1).path("budget").asText(), r.toString());
        assertTrue(r.path("curve").get(0).path("downtime_p99_ms").asDouble() > 0, r.toString());
        assertEquals(4, r.path("completed").asInt(), r.toString());
        assertEquals(0, r.path("fds_leaked").asInt(), r.toString());
    }

    @Test
    void soakSamplesTheAgentAfterEveryRoundAndGivesAVerdict() throws Exception {
        JsonNode r = run("fleet", "soak", "--migrations", "6", "--warmup-migrations", "2", "--vms", "2", "--budget", "1",
                "--drivers", "2", "--agent-heap-mb", "96", "--timeout", "60", "--json");
        assertRun(r, "1", 6);
        // a sample at set-up and after each of the 1 + 3 rounds
        JsonNode samples = r.path("agent_samples");
        assertEquals(5, samples.size(), r.toString());
        for (JsonNode s : samples) {
            assertTrue(s.path("heap_used_after_gc_mb").asDouble() > 0 && s.path("rss_mb").asDouble() > 0
                    && s.path("fds").asInt() > 0 && s.path("threads").asInt() > 0, s.toString());
        }
        assertEquals(96, r.path("agent_heap_mb").asInt());
        String verdict = r.path("soak").path("verdict").asText();
        assertTrue(verdict.equals("flat") || verdict.equals("growing"), r.toString());
        assertEquals(verdict.equals("flat") ? ExitCodes.OK : ExitCodes.FAILED, r.path("exit_code").asInt(), r.toString());
        assertEquals(2, r.path("soak").path("baseline_after_migrations").asLong(), r.toString());
        assertEquals(8, r.path("soak").path("end_after_migrations").asLong(), r.toString());
    }
}
