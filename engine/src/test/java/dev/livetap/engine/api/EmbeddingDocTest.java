package dev.livetap.engine.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/embedding.md's code is examples/control-plane's code: every {@code <!-- example:TAG -->}
 * block of the page equals the example's {@code // tag::TAG[]} region (indentation removed), and
 * every region of the example is on the page.
 */
class EmbeddingDocTest {
    private static final Path ROOT = Path.of(System.getProperty("livetap.test.repoRoot", ".."));
    static final Path DOC = ROOT.resolve("docs/embedding.md");
    static final Path EXAMPLE = ROOT.resolve(
            "examples/control-plane/src/main/java/dev/livetap/examples/controlplane/ControlPlaneExample.java");

    static Map<String, String> regions(String java) {
        Map<String, String> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("(?m)^[ \\t]*// tag::([a-z-]+)\\[\\]\\n(.*?)^[ \\t]*// end::\\1\\[\\]\\n", Pattern.DOTALL)
                .matcher(java);
        while (m.find()) {
            out.put(m.group(1), dedent(m.group(2)));
        }
        return out;
    }

    static Map<String, String> docBlocks(String markdown) {
        Map<String, String> out = new LinkedHashMap<>();
        Matcher m = Pattern.compile("<!-- example:([a-z-]+) -->\\n```java\\n(.*?)```", Pattern.DOTALL).matcher(markdown);
        while (m.find()) {
            out.put(m.group(1), m.group(2).stripTrailing());
        }
        return out;
    }

    private static String dedent(String block) {
        List<String> lines = block.lines().toList();
        int indent = lines.stream().filter(l -> !l.isBlank()).mapToInt(l -> l.length() - l.stripLeading().length())
                .min().orElse(0);
        StringBuilder b = new StringBuilder();
        for (String l : lines) {
            b.append(l.isBlank() ? "" : l.substring(indent)).append('\n');
        }
        return b.toString().stripTrailing();
    }

    @Test
    void theDocsShowTheExampleProjectsCodeUnchanged() throws Exception {
        Map<String, String> example = regions(Files.readString(EXAMPLE));
        Map<String, String> doc = docBlocks(Files.readString(DOC));
        assertFalse(example.isEmpty(), "the example has tagged regions: " + EXAMPLE);
        assertEquals(example.keySet(), doc.keySet(), "every region of the example is on the page, and only those");
        for (Map.Entry<String, String> e : example.entrySet()) {
            assertEquals(e.getValue(), doc.get(e.getKey()), "docs/embedding.md's block '" + e.getKey()
                    + "' differs from examples/control-plane (edit the example, then copy the region)");
        }
    }

    @Test
    void aChangedLineIsCaught() throws Exception {
        String doc = Files.readString(DOC);
        String drifted = doc.replaceFirst("queues\\(4\\)\\)\\);", "queues(8)));");
        assertFalse(drifted.equals(doc), "the page has the line this test changes");
        Map<String, String> example = regions(Files.readString(EXAMPLE));
        Map<String, String> blocks = docBlocks(drifted);
        assertFalse(example.entrySet().stream().allMatch(e -> e.getValue().equals(blocks.get(e.getKey()))),
                "a drifted block must not match");
    }
}
