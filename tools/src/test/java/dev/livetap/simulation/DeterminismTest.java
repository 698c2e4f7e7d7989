package dev.livetap.simulation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.simulation.invariants.Invariants;
import dev.livetap.simulation.runtime.BatchLogLevel;
import dev.livetap.simulation.runtime.SimSystem;
import java.io.IOException;
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

/** The same seed gives the same trace: at any position of a batch, with any number of workers, in separate JVMs. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DeterminismTest {
    @Test
    void aRunsTraceDoesNotDependOnTheRunsBeforeIt() {
        BatchLogLevel.logs();
        long[] seeds = Simulator.runSeeds(5, 6);
        List<Fault> all = List.of(Fault.values());
        SimSystem sim = SimSystem.start();
        try {
            List<String> first = new ArrayList<>();
            for (int i = 0; i < seeds.length; i++) {
                first.add(new SimRun(sim, RunOptions.derive(seeds[i], all, 1, 8), Invariants.all(), i, 0, null).run().traceHash());
            }
            // the last seed again, first in a fresh order, then the first seed after everything else
            String last = new SimRun(sim, RunOptions.derive(seeds[5], all, 1, 8), Invariants.all(), 99, 0, null).run().traceHash();
            assertEquals(first.get(5), last, "run seed " + seeds[5] + " traced the same after other runs");
            String firstAgain = new SimRun(sim, RunOptions.derive(seeds[0], all, 1, 8), Invariants.all(), 100, 0, null).run().traceHash();
            assertEquals(first.get(0), firstAgain, "run seed " + seeds[0] + " traced the same at another position");
        } finally {
            sim.close();
        }
    }

    @Test
    void twoJvmsWithDifferentWorkerCountsPrintTheSameTraceHash() throws Exception {
        Process a = child(1);
        Process b = child(2);
        String ha = hash(a);
        String hb = hash(b);
        assertEquals(ha, hb, "the same seed in two JVMs (1 and 2 workers) yields the same trace_hash");
    }

    private static Process child(int workers) throws IOException {
        Path out = Files.createTempFile("livetap-sim", ".json");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                "dev.livetap.tools.LivetapCommand", "simulate", "--seed", "42", "--runs", "40", "--json",
                "--workers", String.valueOf(workers));
        pb.redirectOutput(out.toFile());
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        outputs.put(p, out);
        return p;
    }

    private static final java.util.Map<Process, Path> outputs = new java.util.concurrent.ConcurrentHashMap<>();

    private static String hash(Process p) throws Exception {
        assertTrue(p.waitFor(100, TimeUnit.SECONDS), "the child JVM finished");
        String json = Files.readString(outputs.get(p), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("\"trace_hash\": \"([0-9a-f]{64})\"").matcher(json);
        assertTrue(m.find(), "the child printed a trace_hash: " + json);
        return m.group(1);
    }
}
