package dev.livetap.actors.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A step is committed with its fields while a recording wants it, and skipped (no text, no event) otherwise. */
class SwitchoverStepEventTest {
    @TempDir
    Path dir;

    @Test
    void aStepIsRecordedOnlyWhileARecordingWantsIt() throws Exception {
        assertFalse(SwitchoverStepEvent.enabled(), "no recording: disabled");
        SwitchoverStepEvent.step("m-before", SwitchoverStepEvent.SOURCE, "not recorded", 1);
        Path file = dir.resolve("steps.jfr");
        try (Recording r = new Recording()) {
            r.enable("livetap.SwitchoverStep");
            r.start();
            assertTrue(SwitchoverStepEvent.enabled(), "a recording that enables the event");
            SwitchoverStepEvent.step("m-1", SwitchoverStepEvent.TARGET, "load nic-0", 42);
            r.stop();
            r.dump(file);
        }
        assertFalse(SwitchoverStepEvent.enabled(), "the recording closed: disabled again");
        List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("livetap.SwitchoverStep")).toList();
        assertEquals(1, events.size(), "only the step taken while recording: " + events);
        RecordedEvent e = events.get(0);
        assertEquals("m-1", e.getString("migrationId"));
        assertEquals("target", e.getString("role"));
        assertEquals("load nic-0", e.getString("step"));
        assertEquals(42, e.getLong("monotonicNanos"));
        assertTrue(Files.size(file) > 0);
    }
}
