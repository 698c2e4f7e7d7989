package dev.livetap.testbed.oracle;

import dev.livetap.testbed.qemu.QemuProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs every scenario on real QEMU and on {@code livetap vmm}, compares the digests and classifies
 * each difference against the {@link KnownDifferences} table. Each run gets a fresh directory
 * under {@code workDir}, removed afterwards. A scenario's two runs go side by side by default (half the
 * suite's time: both mostly wait for quiet QMP); one scenario runs at a time.
 */
public final class DifferentialSuite {
    private static final Logger LOG = LoggerFactory.getLogger(DifferentialSuite.class);

    private final ScenarioRunner runner;
    private final KnownDifferences known;
    private final Path workDir;
    private final boolean sideBySide;

    public DifferentialSuite(ScenarioRunner runner, KnownDifferences known, Path workDir) {
        this(runner, known, workDir, true);
    }

    /**
     * @param sideBySide a scenario's QEMU run and livetap run at the same time (false: one after the other, to rule
     *                   out the overlap when a difference looks like timing)
     */
    public DifferentialSuite(ScenarioRunner runner, KnownDifferences known, Path workDir, boolean sideBySide) {
        this.runner = runner;
        this.known = known;
        this.workDir = workDir;
        this.sideBySide = sideBySide;
    }

    public DifferentialReport run(List<Scenario> scenarios, String header) {
        QemuProcess.unavailabilityCause().ifPresent(cause -> {
            throw new IllegalStateException(cause);
        });
        DifferentialReport report = new DifferentialReport(header);
        ExecutorService qemuLane = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "oracle-qemu-lane");
            t.setDaemon(true);
            return t;
        });
        try {
            for (Scenario s : scenarios) {
                report.add(runOne(s, qemuLane));
            }
        } finally {
            qemuLane.shutdownNow();
        }
        return report;
    }

    private DifferentialReport.ScenarioResult runOne(Scenario s, ExecutorService qemuLane) {
        if (s.pending().isPresent()) {
            return new DifferentialReport.ScenarioResult(s, DifferentialReport.Result.PENDING, List.of(), s.pendingReason(), null, null);
        }
        long t0 = System.nanoTime();
        if (s.only() == Flavor.LIVETAP) {
            return againstQemusSource(s, t0);
        }
        Digest qemu;
        Digest livetap;
        if (sideBySide) {
            // the flavors share nothing (own directories, own network namespaces) and mostly wait for quiet QMP
            CompletableFuture<Digest> onQemu = CompletableFuture.supplyAsync(() -> runIn(s, Flavor.QEMU), qemuLane);
            livetap = runIn(s, Flavor.LIVETAP);
            qemu = onQemu.join();
        } else {
            qemu = runIn(s, Flavor.QEMU);
            livetap = runIn(s, Flavor.LIVETAP);
        }
        LOG.info("scenario {}: {} ms", s.name(), (System.nanoTime() - t0) / 1_000_000);
        String error = qemu.harnessError().or(livetap::harnessError).orElse(null);
        List<DifferentialReport.ClassifiedDifference> diffs = Digest.compare(qemu, livetap).stream()
                .map(d -> new DifferentialReport.ClassifiedDifference(d, known.find(s.name(), d))).toList();
        DifferentialReport.Result result = error != null ? DifferentialReport.Result.HARNESS_ERROR
                : diffs.isEmpty() ? DifferentialReport.Result.SAME
                : diffs.stream().allMatch(DifferentialReport.ClassifiedDifference::cited) ? DifferentialReport.Result.CITED
                : DifferentialReport.Result.UNCITED;
        return new DifferentialReport.ScenarioResult(s, result, error != null ? List.of() : diffs, error, qemu, livetap);
    }

    /**
     * A behaviour newer than the oracle's QEMU: livetap's digest against the fields QEMU's source at the
     * announced version fixes ({@link Scenario#expected()}); the other fields are not compared.
     */
    private DifferentialReport.ScenarioResult againstQemusSource(Scenario s, long t0) {
        Digest livetap = runIn(s, Flavor.LIVETAP);
        LOG.info("scenario {} (livetap only, against QEMU's source): {} ms", s.name(), (System.nanoTime() - t0) / 1_000_000);
        Digest expected = new Digest();
        s.expected().forEach(expected::put);
        String error = livetap.harnessError().orElse(null);
        List<DifferentialReport.ClassifiedDifference> diffs = s.expected().keySet().stream()
                .map(field -> new Digest.Difference(field, s.expected().get(field), livetap.fields().getOrDefault(field, "(absent)")))
                .filter(d -> !d.qemu().equals(d.livetap()))
                .map(d -> new DifferentialReport.ClassifiedDifference(d, known.find(s.name(), d))).toList();
        DifferentialReport.Result result = error != null ? DifferentialReport.Result.HARNESS_ERROR
                : diffs.isEmpty() ? DifferentialReport.Result.SAME
                : diffs.stream().allMatch(DifferentialReport.ClassifiedDifference::cited) ? DifferentialReport.Result.CITED
                : DifferentialReport.Result.UNCITED;
        return new DifferentialReport.ScenarioResult(s, result, error != null ? List.of() : diffs, error, expected, livetap);
    }

    private Digest runIn(Scenario s, Flavor flavor) {
        Path dir;
        try {
            Files.createDirectories(workDir);
            // short: a unix socket path is limited to 107 bytes
            dir = Files.createTempDirectory(workDir, flavor == Flavor.QEMU ? "q" : "l");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make a directory under " + workDir, e);
        }
        try {
            return runner.run(s, flavor, dir);
        } finally {
            deleteTree(dir);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", dir, e.toString());
        }
    }
}
