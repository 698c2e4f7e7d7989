package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.fleet.agent.HostAgent.AgentState;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.PlanPreview;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fleet plan}: the plan file {@code fleet start --plan} reads, and the preview's table and JSON. */
class FleetPlanCommandTest {
    @TempDir
    Path dir;

    @Test
    void aPlanWrittenByPlanOutIsTheSamePlanForStart() throws Exception {
        Plan plan = new Plan("0.3.0", List.of("h2", "h1"), 2, 3, 12.5, 7_000, 90_000);
        Path file = dir.resolve("plan.json");
        FleetPlanOptions.write(plan, file);
        assertEquals(plan, FleetPlanOptions.read(file));
        assertTrue(Files.readString(file).contains("\"host_down_limit_ms\" : 90000"), Files.readString(file));
    }

    @Test
    void aFileThatIsNotAPlanIsRefusedNamingWhatIsMissing() throws Exception {
        Path file = dir.resolve("bad.json");
        Files.writeString(file, "{\"target_version\": \"x\", \"hosts\": [\"a\"]}");
        BadOptionValue e = assertThrows(BadOptionValue.class, () -> FleetPlanOptions.read(file));
        assertEquals("--plan " + file + ": not a plan as fleet plan --out writes it: no max_parallel_hosts, max_failures, "
                + "downtime_limit_ms, step_timeout_ms, host_down_limit_ms", e.getMessage());
        Files.writeString(file, "{\"target_version\": \"x\", \"hosts\": [], \"max_parallel_hosts\": 1, \"max_failures\": 0, "
                + "\"downtime_limit_ms\": 10, \"step_timeout_ms\": 0, \"host_down_limit_ms\": 0}");
        assertEquals("--plan " + file + ": a plan needs at least one host",
                assertThrows(BadOptionValue.class, () -> FleetPlanOptions.read(file)).getMessage());
        Files.writeString(file, "{oops");
        assertTrue(assertThrows(BadOptionValue.class, () -> FleetPlanOptions.read(file)).getMessage()
                .startsWith("--plan " + file + ": cannot read it as JSON: "));
    }

    @Test
    void thePreviewPrintsOneRowPerHostTheEstimateAndTheReasonsItIsNotReady() {
        Plan plan = new Plan("0.3.0", List.of("h1", "h2"), 1, 0, 300, 0, 30_000);
        UpgradeCoordinator.Status none = new UpgradeCoordinator.Status(2, null, Map.of(), Map.of(), 0, false, List.of(), false,
                "none", List.of(), List.of(), null);
        PlanPreview p = PlanPreview.of(plan, Map.of("h1", new AgentState("h1", 2, Map.of(), 2, List.of("a", "b", "c"),
                List.of("0.2.0", "0.3.0"), Map.of("b", "0.3.0", "c", "0.2.0"))), none, 1.5);
        List<String> lines = FleetPlanCommand.text(p, null).lines().toList();
        assertEquals("plan to 0.3.0: 2 host(s), 3 VM(s) known: 2 to move, 1 already on 0.3.0 (skipped); at most 1 host(s) at "
                + "once, halt after 0 failure(s), downtime limit 300 ms", lines.get(0));
        assertTrue(lines.get(1).matches("host\\s+agent\\s+build\\s+vms\\s+move\\s+on target\\s+in step\\s+budget\\s+slot\\s+starts s\\s+ends s"),
                lines.get(1));
        assertTrue(lines.get(2).matches("h1\\s+yes\\s+yes\\s+3\\s+2\\s+1\\s+0\\s+2\\s+1\\s+0\\s+1.5"), lines.get(2));
        assertTrue(lines.get(3).matches("h2\\s+none\\s+-\\s+\\?\\s+\\?\\s+\\?\\s+0\\s+-\\s+1\\s+1.5\\s+31.5"), lines.get(3));
        assertEquals("estimate: 31.5 s at 1.5 s per VM step per budget slot (--step-estimate-s); coordinator: none", lines.get(4));
        assertEquals("not ready:", lines.get(5));
        assertTrue(lines.get(6).startsWith("  - host h2: no agent answered"), lines.get(6));

        JsonNode o = FleetPlanCommand.toJson(p, dir.resolve("p.json"));
        assertEquals(false, o.path("ready").asBoolean());
        assertEquals(31.5, o.path("eta_s").asDouble());
        assertEquals(3, o.path("vms").asInt());
        assertEquals(2, o.path("moving").asInt());
        assertEquals(1, o.path("on_target").asInt());
        assertEquals(2, o.path("hosts").path(0).path("moving").asInt());
        assertEquals(1, o.path("hosts").path(0).path("on_target").asInt());
        assertEquals(2, o.path("hosts").size());
        assertEquals(-1, o.path("hosts").path(1).path("vms").asInt());
        assertEquals(true, o.path("hosts").path(0).path("has_target_version").asBoolean());
        assertEquals(30_000, o.path("plan").path("host_down_limit_ms").asLong());
        assertEquals(2, o.path("problems").size(), o.path("problems").toString());
        assertEquals(dir.resolve("p.json").toString(), o.path("written").asText());
    }
}
