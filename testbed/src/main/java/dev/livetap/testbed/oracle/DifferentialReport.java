package dev.livetap.testbed.oracle;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The suite's result: scenario × result, each difference with its citation (or UNCITED). */
public final class DifferentialReport {
    /** The result of one scenario. */
    public enum Result {
        SAME("same"), CITED("cited difference"), UNCITED("UNCITED difference"), HARNESS_ERROR("harness error"),
        PENDING("pending"), NOT_RUN("not run");

        public final String text;

        Result(String text) {
            this.text = text;
        }
    }

    /** A difference and the table entry that explains it, if any. */
    public record ClassifiedDifference(Digest.Difference difference, Optional<KnownDifferences.Entry> entry) {
        public boolean cited() {
            return entry.map(KnownDifferences.Entry::cited).orElse(false);
        }
    }

    /** One scenario's outcome; {@code detail} holds the harness error or the pending reason. */
    public record ScenarioResult(Scenario scenario, Result result, List<ClassifiedDifference> differences, String detail,
            Digest qemu, Digest livetap) { }

    private final List<ScenarioResult> results = new ArrayList<>();
    private final String header;

    public DifferentialReport(String header) {
        this.header = header;
    }

    void add(ScenarioResult r) {
        results.add(r);
    }

    public List<ScenarioResult> results() {
        return List.copyOf(results);
    }

    public long count(Result r) {
        return results.stream().filter(s -> s.result() == r).count();
    }

    public long uncitedDifferences() {
        return results.stream().flatMap(r -> r.differences().stream()).filter(d -> !d.cited()).count();
    }

    /** Every uncited difference, one per line ({@code scenario: field: QEMU <q> / livetap <l>}). */
    public String uncitedLines() {
        StringBuilder b = new StringBuilder();
        for (ScenarioResult r : results) {
            for (ClassifiedDifference d : r.differences()) {
                if (!d.cited()) {
                    b.append(r.scenario().name()).append(": ").append(d.difference().field()).append(": QEMU ")
                            .append(d.difference().qemu()).append(" / livetap ").append(d.difference().livetap()).append('\n');
                }
            }
        }
        return b.toString();
    }

    /** The report as Markdown: the summary table, then every difference. */
    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append(header).append("\n\n");
        b.append("| scenario | result | differences (cited / uncited) |\n|---|---|---|\n");
        for (ScenarioResult r : results) {
            long cited = r.differences().stream().filter(ClassifiedDifference::cited).count();
            b.append("| ").append(r.scenario().name()).append(" | ").append(r.result().text).append(" | ");
            if (r.result() == Result.PENDING || r.result() == Result.HARNESS_ERROR || r.result() == Result.NOT_RUN) {
                b.append(cell(r.detail()));
            } else {
                b.append(cited).append(" / ").append(r.differences().size() - cited);
            }
            b.append(" |\n");
        }
        b.append("\nTotals: ");
        for (Result res : Result.values()) {
            b.append(res.text).append(' ').append(count(res)).append("; ");
        }
        b.append("uncited differences ").append(uncitedDifferences()).append(".\n");
        b.append("\n| scenario | digest field | QEMU 7.2 | livetap | citation |\n|---|---|---|---|---|\n");
        for (ScenarioResult r : results) {
            for (ClassifiedDifference d : r.differences()) {
                b.append("| ").append(r.scenario().name()).append(" | `").append(d.difference().field()).append("` | ")
                        .append(cell(d.difference().qemu())).append(" | ").append(cell(d.difference().livetap())).append(" | ")
                        .append(d.cited() ? cell(d.entry().get().citation()) : "**UNCITED**"
                                + d.entry().map(e -> " (" + cell(e.note()) + ")").orElse(""))
                        .append(" |\n");
            }
        }
        return b.toString();
    }

    private static String cell(String text) {
        return text == null ? "" : text.replace("|", "\\|").replace("\n", " ");
    }
}
