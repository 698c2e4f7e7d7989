package dev.livetap.tools;

import dev.livetap.tools.BenchCommand;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** Without --json, bench prints a few lines of text (the figures of the JSON), never the JSON itself. */
class BenchTextTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void downtimeTextShowsThePercentilesAndNoJson() throws Exception {
        JsonNode r = JSON.readTree("{\"queues\": 4, \"migrations\": 200, \"unmeasured_migrations\": 0,"
                + " \"downtime_ms\": {\"p50\": 2.41, \"p99\": 5.2, \"max\": 7.9, \"min\": 1.1},"
                + " \"bare_handoff_ms\": {\"p50\": 0.05, \"fds\": 4}, \"ratio_p50\": 48.2,"
                + " \"load_average_start\": \"0.5\", \"load_average_end\": \"1.5\", \"wall_ms\": 61000}");
        String text = BenchCommand.downtimeText(r);
        assertTrue(text.contains("p50 2.41 ms, p99 5.2 ms, max 7.9 ms"), text);
        assertTrue(text.contains("4 fds: p50 0.05 ms"), text);
        assertFalse(text.contains("{"), "no JSON in the text: " + text);
    }

    @Test
    void concurrentTextShowsCompletionsAndNoJson() throws Exception {
        JsonNode r = JSON.readTree("{\"vms\": 100, \"completed\": 100, \"migrations_per_s\": 640.5, \"window_ms\": 156.1,"
                + " \"downtime_ms\": {\"p50\": 20.0, \"p99\": 80.0, \"max\": 90.0}, \"fds_leaked\": 0, \"max_in_flight\": 100}");
        String text = BenchCommand.concurrentText(r);
        assertTrue(text.startsWith("100 of 100 VMs migrated, 640.5 migrations/s"), text);
        assertTrue(text.contains("fds leaked 0"), text);
        assertFalse(text.contains("{"), "no JSON in the text: " + text);
    }
}
