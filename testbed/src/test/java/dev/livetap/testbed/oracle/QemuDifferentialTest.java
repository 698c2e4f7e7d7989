package dev.livetap.testbed.oracle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The differential suite: every scenario on a real {@code qemu-system-x86_64} and on {@code livetap
 * vmm}. Report-only mode (default) fails only on harness errors; {@code -Dlivetap.oracle.strict=true}
 * fails on any difference without a citation too. {@code -Dlivetap.oracle.scenarios=a,b} runs a
 * subset; {@code -Dlivetap.oracle.sequential=true} runs a scenario's QEMU and livetap runs one after the other
 * instead of side by side. The report goes to stdout and {@code target/qemu-differential-report.md}.
 */
class QemuDifferentialTest {
    private static final String STRICT = "livetap.oracle.strict";
    private static final String ONLY = "livetap.oracle.scenarios";
    private static final String SEQUENTIAL = "livetap.oracle.sequential";

    @Test
    @Timeout(400)
    void everyScenarioOnQemuAndLivetap() throws Exception {
        assumeTrue(QemuProcess.isAvailable(), () -> "skipped: " + QemuProcess.unavailabilityCause().orElseThrow());
        boolean strict = Boolean.getBoolean(STRICT);
        List<Scenario> scenarios = selected();
        Path work = Files.createTempDirectory("lt-oracle");
        long t0 = System.nanoTime();
        DifferentialReport report;
        try {
            report = new DifferentialSuite(new ScenarioRunner(JnaOs.instance().unix()), KnownDifferences.load(), work,
                    !Boolean.getBoolean(SEQUENTIAL))
                    .run(scenarios, "QEMU differential suite (" + (strict ? "strict" : "report-only") + " mode), oracle "
                            + qemuVersion());
        } finally {
            Files.deleteIfExists(work);
        }
        long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        String markdown = report.markdown() + "\nRun time: " + seconds + " s.\n";
        System.out.println(markdown);
        Path out = Path.of("target", "qemu-differential-report.md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, markdown);

        String errors = report.results().stream().filter(r -> r.result() == DifferentialReport.Result.HARNESS_ERROR)
                .map(r -> r.scenario().name() + ": " + r.detail()).collect(Collectors.joining("\n"));
        assertEquals("", errors, "every scenario must run on both VMMs (harness errors)");
        if (strict) {
            assertEquals("", report.uncitedLines(), "strict mode: every difference from QEMU cites a QEMU commit or a design rule");
        }
    }

    private static List<Scenario> selected() {
        String only = System.getProperty(ONLY, "").trim();
        if (only.isEmpty()) {
            return Scenarios.all();
        }
        Set<String> names = Arrays.stream(only.split(",")).map(String::trim).collect(Collectors.toSet());
        List<Scenario> picked = Scenarios.all().stream().filter(s -> names.contains(s.name())).toList();
        assertEquals(names.size(), picked.size(), ONLY + " names unknown scenarios: " + names);
        return picked;
    }

    private static String qemuVersion() throws Exception {
        Process p = new ProcessBuilder(QemuProcess.BINARY, "--version").redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes()).lines().findFirst().orElse("?");
        p.waitFor();
        return text;
    }
}
