package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.tools.SimulateCommand;
import dev.livetap.simulation.invariants.Violation;
import dev.livetap.simulation.report.HtmlReport;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

/** {@code simulate --report DIR}: report.html (well-formed, self-contained, the expected sections and numbers) and report.json. */
class ReportTest {
    @TempDir
    Path dir;

    @Test
    void smallBatchReport() throws Exception {
        Simulator.Batch real = Simulator.run(11, 24, List.of(Fault.values()), 1, 4, 1, null, null);
        // one made-up violation, so that the violation table and its reproduction line are exercised too
        SimRun.Result first = real.results().get(0);
        List<SimRun.Result> results = new ArrayList<>(real.results());
        results.add(new SimRun.Result(RunOptions.derive(987654321L, List.of(Fault.values()), 1, 4), "failed", true, -1,
                new Violation("FdConservation", "target still holds 1 descriptor(s) <after> the teardown & more\nsecond line"),
                first.traceHash(), 10, 10, List.of()));
        Simulator.Batch b = new Simulator.Batch(11, results.size(), real.faults(), 1, 4, results, real.elapsedNanos(), 1);
        String js = SimulateCommand.toJson(b, null, "1-4", true);
        HtmlReport.write(dir, b, null, "1-4", js);

        String html = Files.readString(dir.resolve("report.html"), StandardCharsets.UTF_8);
        // well-formed: the report is written as XHTML-compatible markup, so an XML parser must accept it
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(html.getBytes(StandardCharsets.UTF_8)));
        assertEquals("html", doc.getDocumentElement().getTagName());
        for (String id : List.of("summary", "outcomes", "matrix", "downtime", "violations")) {
            assertTrue(html.contains("<section id=\"" + id + "\">"), "section " + id);
        }
        assertEquals(2, doc.getElementsByTagName("svg").getLength(), "outcome bars and downtime histogram");
        // self-contained: no script, no external asset
        for (String external : List.of("<script", "src=", "href=", "url(", "@import", "<link")) {
            assertFalse(html.contains(external), "no " + external);
        }
        assertTrue(html.contains("<dt>seed</dt><dd>11</dd>"), "the seed");
        assertTrue(html.contains("<dt>runs</dt><dd>25</dd>"), "the run count");
        assertTrue(html.contains("<span id=\"violation-count\" class=\"bad\">1</span>"), "the violation count");
        for (Map.Entry<String, Integer> e : b.outcomes().entrySet()) {
            assertTrue(html.contains(">" + e.getKey() + "</text>"), "outcome bar " + e.getKey());
            assertTrue(html.contains(">" + e.getValue() + "</text>"), "outcome count " + e.getValue());
        }
        for (Fault f : Fault.values()) {
            assertTrue(html.contains(">" + f.id() + "</td>"), "matrix row " + f.id());
        }
        for (Phase p : Phase.values()) {
            assertTrue(html.contains("<th>" + p.id() + "</th>"), "matrix column " + p.id());
        }
        assertTrue(html.contains("./livetap simulate --seed 987654321 --runs 1 --queues 1-4"), "the violation's reproduction line");
        assertTrue(html.contains("&lt;after&gt; the teardown &amp; more"), "messages are escaped");
        assertFalse(html.contains("second line"), "one line per violation in the table");

        JsonNode json = new ObjectMapper().readTree(dir.resolve("report.json").toFile());
        assertEquals(11, json.get("seed").asLong());
        assertEquals(25, json.get("runs").asInt());
        assertEquals(1, json.get("violations").asInt());
        assertEquals("./livetap simulate --seed 987654321 --runs 1 --queues 1-4",
                json.get("violation_list").get(0).get("reproduce").asText());
        int cells = 0;
        for (JsonNode row : json.get("matrix")) {
            for (JsonNode c : row) {
                cells += c.asInt();
            }
        }
        long injectedOrClean = b.results().stream().filter(r -> r.faultInjected() || r.options().fault() == Fault.NONE).count();
        assertEquals(injectedOrClean, cells, "matrix cells count the runs that injected their fault");
        long histogram = 0;
        for (JsonNode c : json.get("downtime_histogram").get("counts")) {
            histogram += c.asLong();
        }
        assertEquals(json.get("downtime_ms").get("count").asLong(), histogram);
        assertEquals("1-4", json.get("options").get("queues").asText());
        assertEquals(25, json.get("run_list").size(), "every run with its trace hash");
        assertEquals(first.traceHash(), json.get("run_list").get(0).get("trace_hash").asText());
    }
}
