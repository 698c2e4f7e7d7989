package dev.livetap.tools;

import java.time.Duration;
import picocli.CommandLine.Option;

/** Options shared by {@code fleet bench} and {@code fleet soak}: the agents they start and their bounds. */
final class FleetBenchOptions {
    @Option(names = "--downtime-limit-ms", paramLabel = "MS", defaultValue = "10",
            description = "Per-VM downtime limit --budget auto steers by: default ${DEFAULT-VALUE}.")
    double limitMs;

    @Option(names = "--agent-heap-mb", paramLabel = "MB", defaultValue = "256",
            description = "Each agent JVM's fixed heap (-Xms = -Xmx): 64-16384, default ${DEFAULT-VALUE}.")
    int agentHeapMb;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "120",
            description = "Bound of each migration and wait: 1-3600, default ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    /** Checks the ranges; a {@link BadOptionValue} names the first one out of range. */
    void check() {
        BadOptionValue.range("--timeout", timeoutSeconds, 1, 3600);
        BadOptionValue.range("--downtime-limit-ms", limitMs, 0.001, 100_000);
        BadOptionValue.range("--agent-heap-mb", agentHeapMb, 64, 16_384);
    }

    Duration timeout() {
        return Duration.ofSeconds(timeoutSeconds);
    }
}
