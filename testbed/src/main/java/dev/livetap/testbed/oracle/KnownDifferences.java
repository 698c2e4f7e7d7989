package dev.livetap.testbed.oracle;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Optional;

/**
 * The table of known differences between QEMU 7.2 (the oracle) and livetap
 * ({@code known-differences.json} beside this class). An entry names a scenario, a digest field and
 * both values ("*" matches any; a scenario "*" matches every scenario), and cites why livetap differs: a QEMU commit between 7.2 and the
 * version livetap announces (10.2.50), or a safety rule of the design. An entry without a citation
 * documents a difference that is known but not justified: it still counts as uncited.
 */
public final class KnownDifferences {
    public static final String RESOURCE = "known-differences.json";

    /** One known difference; {@code citation} empty when nothing justifies it yet. */
    public record Entry(String scenario, String field, String qemu, String livetap, String citation, String note) {
        boolean matches(String scenarioName, Digest.Difference d) {
            return value(scenario, scenarioName) && field.equals(d.field()) && value(qemu, d.qemu()) && value(livetap, d.livetap());
        }

        public boolean cited() {
            return citation != null && !citation.isBlank();
        }

        private static boolean value(String pattern, String actual) {
            return "*".equals(pattern) || pattern.equals(actual);
        }
    }

    private final List<Entry> entries;

    public KnownDifferences(List<Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    /** The table shipped with the testbed. */
    public static KnownDifferences load() {
        try (InputStream in = KnownDifferences.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + RESOURCE + " beside " + KnownDifferences.class.getName());
            }
            return new KnownDifferences(new ObjectMapper().readValue(in, new TypeReference<List<Entry>>() { }));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    public Optional<Entry> find(String scenario, Digest.Difference d) {
        return entries.stream().filter(e -> e.matches(scenario, d)).findFirst();
    }

    public List<Entry> entries() {
        return entries;
    }
}
