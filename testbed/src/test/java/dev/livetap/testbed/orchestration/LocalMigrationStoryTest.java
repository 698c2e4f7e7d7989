package dev.livetap.testbed.orchestration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.vmm.VmmServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One migration, one story: a migration between two VMM hosts (real QMP sockets, kernel OS, one
 * engine each) whose timeline is ordered by the VMMs' CLOCK_MONOTONIC stamps and tells the events
 * in the order they happened, and whose downtime is the same figure in the progress lines, the
 * summary and the JSON.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LocalMigrationStoryTest {
    private static final Pattern DOWNTIME = Pattern.compile("downtime\\s+([0-9]+\\.[0-9]{3}) ms \\(source's last queue stop");
    private static final Pattern TIMELINE_ROW = Pattern.compile("^\\s+(-?[0-9]+\\.[0-9]{3})\\s+(source|target)\\s+(\\S+)\\s*(.*)$");

    @Test
    void timelineIsOrderedAndTheDowntimeIsOneFigureEverywhere() throws Exception {
        Path dir = Files.createTempDirectory("livetap-story");
        EngineSettings settings = EngineSettings.defaults().withVhost(RecordingVhostBackend::new);
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        Path srcQmp = dir.resolve("s.qmp");
        Path tgtQmp = dir.resolve("t.qmp");
        try (VmmServer source = VmmServer.start(settings.withSystemName("story-s"), List.of(new VmmServer.VmPlan(VmSpec.of("s"), srcQmp)),
                false, quiet);
                VmmServer target = VmmServer.start(settings.withSystemName("story-t"),
                        List.of(new VmmServer.VmPlan(VmSpec.of("t").incoming(true), tgtQmp)), false, quiet)) {
            {
                List<String> progress = new ArrayList<>();
                LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(srcQmp, tgtQmp), progress::add);
                String text = LocalMigration.format(r);
                assertTrue(r.completed(), "the migration completes: " + text);
                assertEquals(LocalMigration.MONOTONIC, r.timelineClock(), "livetap VMMs stamp every event on CLOCK_MONOTONIC");

                // ordered: the returned timeline and the printed one
                for (int i = 1; i < r.timeline().size(); i++) {
                    assertTrue(r.timeline().get(i - 1).atMicros() <= r.timeline().get(i).atMicros(), "timeline ordered: " + text);
                }
                List<Double> printed = new ArrayList<>();
                List<String> story = new ArrayList<>();
                for (String line : text.lines().toList()) {
                    Matcher m = TIMELINE_ROW.matcher(line);
                    if (m.matches()) {
                        printed.add(Double.parseDouble(m.group(1)));
                        story.add(m.group(2) + " " + m.group(3) + " " + m.group(4).strip());
                    }
                }
                assertEquals(r.timeline().size(), printed.size(), "every step is printed: " + text);
                for (int i = 1; i < printed.size(); i++) {
                    assertTrue(printed.get(i - 1) <= printed.get(i), "printed timeline ordered: " + text);
                }
                // the story in the order it happened
                int setup = story.indexOf("source MIGRATION setup");
                int stopped = indexStarting(story, "source x-source-stopped");
                int started = indexStarting(story, "target x-target-started");
                int srcCompleted = story.indexOf("source MIGRATION completed");
                int tgtCompleted = story.indexOf("target MIGRATION completed");
                assertTrue(setup >= 0 && stopped >= 0 && started >= 0 && srcCompleted >= 0 && tgtCompleted >= 0,
                        "the timeline has setup, stop, start and both completions: " + story);
                assertTrue(setup < stopped && stopped < started, "setup -> source stop -> target start: " + story);
                assertTrue(setup < tgtCompleted, "the source's setup comes before the target's completed: " + story);
                assertTrue(stopped < tgtCompleted && stopped < srcCompleted, "the source stops before either side completes: " + story);

                // one downtime: design decision 7's stamps, shown the same in progress, summary and JSON
                JsonNode json = r.toJson();
                double expected = Math.round((r.targetInfo().get("x-target-started-ns").asLong()
                        - r.sourceInfo().get("x-source-stopped-ns").asLong()) / 1000.0) / 1000.0;
                assertEquals(expected, r.downtimeMs(), 0.0, "downtime = target started - source stopped");
                assertEquals(expected, json.get("downtime_ms").asDouble(), 0.0, "JSON: " + json);
                String figure = String.format(java.util.Locale.ROOT, "%.3f", expected);
                List<String> inProgress = progress.stream().map(DOWNTIME::matcher).filter(Matcher::find).map(m -> m.group(1)).toList();
                assertEquals(List.of(figure), inProgress, "the progress lines show the downtime once, the same: " + progress);
                Matcher summary = DOWNTIME.matcher(text);
                assertTrue(summary.find(), "the summary shows the downtime: " + text);
                assertEquals(figure, summary.group(1), "summary: " + text);
                assertTrue(progress.stream().noneMatch(l -> l.matches(".*completed\\s+[0-9.]+ ms.*")),
                        "no other figure in ms next to a status that reads like a downtime: " + progress);
            }
        }
    }

    private static int indexStarting(List<String> story, String prefix) {
        for (int i = 0; i < story.size(); i++) {
            if (story.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }
}
