package dev.livetap.simulation;

import dev.livetap.simulation.invariants.Invariants;
import dev.livetap.simulation.runtime.BatchLogLevel;
import dev.livetap.simulation.runtime.SimSystem;
import dev.livetap.simulation.trace.TraceLog;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A batch of simulated runs: one seed derives every run's own seed (run 0 is the batch seed
 * itself, so {@code --seed R --runs 1} replays run R of any batch), each run's options derive
 * from its seed alone, and workers (one long-lived ActorSystem each) share the runs. Results
 * are folded in run order, so the batch's trace hash does not depend on the number of workers.
 */
public final class Simulator {
    /** Everything a batch found. */
    public record Batch(long seed, int runs, List<Fault> faults, int minQueues, int maxQueues, List<SimRun.Result> results,
            long elapsedNanos, int workers) {
        public List<SimRun.Result> violations() {
            return results.stream().filter(r -> !r.ok()).toList();
        }

        public String traceHash() {
            try {
                MessageDigest d = MessageDigest.getInstance("SHA-256");
                for (SimRun.Result r : results) {
                    d.update(HexFormat.of().parseHex(r.traceHash()));
                }
                return TraceLog.hex(d.digest());
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        public Map<String, Integer> faultsInjected() {
            Map<String, Integer> m = new TreeMap<>();
            for (SimRun.Result r : results) {
                if (r.faultInjected()) {
                    m.merge(r.options().fault().id(), 1, Integer::sum);
                }
            }
            return m;
        }

        public Map<String, Integer> outcomes() {
            Map<String, Integer> m = new TreeMap<>();
            results.forEach(r -> m.merge(r.ok() ? r.outcome() : "violation", 1, Integer::sum));
            return m;
        }

        /** fault → phase → runs that injected it there; every applicable cell present (0 if none). */
        public Map<String, Map<String, Integer>> matrix() {
            Map<String, Map<String, Integer>> m = new LinkedHashMap<>();
            for (Fault f : faults) {
                Map<String, Integer> row = new LinkedHashMap<>();
                f.phases().forEach(p -> row.put(p.id(), 0));
                m.put(f.id(), row);
            }
            for (SimRun.Result r : results) {
                if (r.faultInjected() || r.options().fault() == Fault.NONE) {
                    m.get(r.options().fault().id()).merge(r.options().phase().id(), 1, Integer::sum);
                }
            }
            return m;
        }

        public List<Long> downtimesMs() {
            return results.stream().filter(r -> r.downtimeMs() >= 0).map(SimRun.Result::downtimeMs).toList();
        }

        public double runsPerMinute() {
            return results.size() * 60e9 / Math.max(1, elapsedNanos);
        }
    }

    private Simulator() {
    }

    /** The seed of run {@code i} of the batch with seed {@code seed} (run 0: the seed itself). */
    public static long[] runSeeds(long seed, int runs) {
        long[] seeds = new long[runs];
        Random r = new Random(seed);
        for (int i = 0; i < runs; i++) {
            seeds[i] = i == 0 ? seed : r.nextLong();
        }
        return seeds;
    }

    public static Batch run(long seed, int runs, List<Fault> faults, int minQueues, int maxQueues, int workers,
            Consumer<SimRun.Result> onResult, Consumer<SimRun> plant) {
        BatchLogLevel.logs();
        long[] seeds = runSeeds(seed, runs);
        SimRun.Result[] results = new SimRun.Result[runs];
        AtomicInteger next = new AtomicInteger();
        long t0 = System.nanoTime();
        int w = Math.max(1, Math.min(workers, runs));
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (int k = 0; k < w; k++) {
            Thread t = new Thread(() -> {
                SimSystem sim = SimSystem.start();
                try {
                    for (int i = next.getAndIncrement(); i < runs; i = next.getAndIncrement()) {
                        RunOptions o = RunOptions.derive(seeds[i], faults, minQueues, maxQueues);
                        SimRun.Result r = new SimRun(sim, o, Invariants.all(), i, 0, plant).run();
                        results[i] = r;
                        if (onResult != null) {
                            synchronized (results) {
                                onResult.accept(r);
                            }
                        }
                    }
                } catch (Throwable e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                } finally {
                    sim.close();
                }
            }, "sim-worker-" + k);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
        if (!failures.isEmpty()) {
            throw new IllegalStateException("a simulation worker failed", failures.get(0));
        }
        return new Batch(seed, runs, List.copyOf(faults), minQueues, maxQueues, List.of(results), System.nanoTime() - t0, w);
    }

    /** A single run with its trace kept in memory (replay and diagnosis). */
    public static SimRun.Result replay(long runSeed, List<Fault> faults, int minQueues, int maxQueues, int keepLines,
            Consumer<SimRun> plant) {
        BatchLogLevel.logs();
        SimSystem sim = SimSystem.start();
        try {
            return new SimRun(sim, RunOptions.derive(runSeed, faults, minQueues, maxQueues), Invariants.all(), 0,
                    keepLines, plant).run();
        } finally {
            sim.close();
        }
    }

    /** The one line that reproduces a run. */
    public static String repro(SimRun.Result r, String faultsArg, String queuesArg) {
        return "./livetap simulate --seed " + r.options().seed() + " --runs 1" + (faultsArg == null ? "" : " --faults " + faultsArg)
                + (queuesArg == null ? "" : " --queues " + queuesArg);
    }
}
