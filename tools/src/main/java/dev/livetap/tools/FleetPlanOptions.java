package dev.livetap.tools;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.PlanJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * A plan's options, shared by {@code fleet plan} (preview) and {@code fleet start} (submit): given one by one,
 * or as the JSON file {@code fleet plan --out FILE} wrote ({@code --plan FILE}), so that what was previewed is
 * exactly what is started.
 */
final class FleetPlanOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--plan", paramLabel = "FILE", description = "The plan in FILE, as fleet plan --out wrote it (instead of "
            + "--hosts and the plan's other options).")
    Path planFile;

    @Option(names = "--hosts", split = ",", paramLabel = "HOST", description = "Hosts of the plan, comma separated, in the "
            + "order they start.")
    List<String> hosts;

    @Option(names = "--target-version", defaultValue = "current", description = "The VMM version the plan moves to (recorded; "
            + "the agents start their own build): default ${DEFAULT-VALUE}.")
    String target;

    @Option(names = "--max-parallel-hosts", defaultValue = "1", description = "Hosts upgrading at once: default ${DEFAULT-VALUE}.")
    int maxParallelHosts;

    @Option(names = "--max-failures", defaultValue = "0", description = "Failed VM steps before the plan halts: default ${DEFAULT-VALUE}.")
    int maxFailures;

    @Option(names = "--downtime-limit-ms", defaultValue = "300", description = "Per-VM downtime limit: default ${DEFAULT-VALUE}.")
    double downtimeLimitMs;

    @Option(names = "--step-timeout-s", paramLabel = "S", defaultValue = "30",
            description = "A step its agent does not answer within S seconds is sent again with the same migration id: "
                    + "1-3600, default ${DEFAULT-VALUE}.")
    int stepTimeoutS;

    @Option(names = "--host-down-limit-s", paramLabel = "S", defaultValue = "120",
            description = "A host whose agent is gone S seconds is given up (one failure): 1-86400, default ${DEFAULT-VALUE}.")
    int hostDownLimitS;

    /** The plan asked for, or a {@link BadOptionValue} saying what is wrong. */
    Plan plan() {
        if (planFile != null) {
            for (String o : List.of("--hosts", "--target-version", "--max-parallel-hosts", "--max-failures", "--downtime-limit-ms",
                    "--step-timeout-s", "--host-down-limit-s")) {
                if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                    throw new BadOptionValue("--plan FILE holds the whole plan: give " + o + " in the file or without --plan");
                }
            }
            return read(planFile);
        }
        if (hosts == null || hosts.isEmpty()) {
            throw new BadOptionValue("give the plan's hosts: --hosts HOST[,HOST...] (or --plan FILE)");
        }
        BadOptionValue.range("--max-parallel-hosts", maxParallelHosts, 1, 100_000);
        BadOptionValue.range("--max-failures", maxFailures, 0, 1_000_000);
        BadOptionValue.range("--downtime-limit-ms", downtimeLimitMs, 0.001, 100_000);
        BadOptionValue.range("--step-timeout-s", stepTimeoutS, 1, 3600);
        BadOptionValue.range("--host-down-limit-s", hostDownLimitS, 1, 86_400);
        return new Plan(target, hosts, maxParallelHosts, maxFailures, downtimeLimitMs, stepTimeoutS * 1000L,
                hostDownLimitS * 1000L);
    }

    /** A plan file: the JSON object {@link #toJson} writes (the {@code plan} member of {@code fleet status --json}). */
    static Plan read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new BadOptionValue("--plan " + file + ": cannot read it as JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        try {
            return PlanJson.parse(text);
        } catch (IllegalArgumentException e) {
            throw new BadOptionValue("--plan " + file + ": " + e.getMessage());
        }
    }

    /** {@code plan} as one JSON object (snake_case members, as every other fleet JSON output). */
    static ObjectNode toJson(Plan plan) {
        return PlanJson.toJson(plan);
    }

    /** Writes {@code plan} to {@code file} as {@link #read} reads it. */
    static void write(Plan plan, Path file) throws IOException {
        Files.writeString(file, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(plan)) + "\n");
    }
}
