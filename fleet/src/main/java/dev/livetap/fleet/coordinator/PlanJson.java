package dev.livetap.fleet.coordinator;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Plan} as one JSON object with snake_case members, as every fleet JSON output: what {@code fleet plan --out}
 * writes, {@code fleet start --plan} reads and {@code POST /fleet/plans} takes.
 */
public final class PlanJson {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> FIELDS = List.of("target_version", "hosts", "max_parallel_hosts", "max_failures",
            "downtime_limit_ms", "step_timeout_ms", "host_down_limit_ms");

    private PlanJson() {
    }

    /** {@code plan} as one JSON object. */
    public static ObjectNode toJson(Plan plan) {
        ObjectNode p = JSON.createObjectNode();
        p.put("target_version", plan.targetVersion());
        plan.hosts().forEach(p.putArray("hosts")::add);
        p.put("max_parallel_hosts", plan.maxParallelHosts()).put("max_failures", plan.maxFailures())
                .put("downtime_limit_ms", plan.downtimeLimitMs()).put("step_timeout_ms", plan.stepTimeoutMs())
                .put("host_down_limit_ms", plan.hostDownLimitMs());
        return p;
    }

    /**
     * The plan {@code text} holds ({@link #toJson}'s form).
     *
     * @throws IllegalArgumentException text that is not JSON ("cannot read it as JSON: …"), an object without every
     *                                  member ("not a plan as fleet plan --out writes it: no …"), or a plan
     *                                  {@link Plan} refuses
     */
    public static Plan parse(String text) {
        JsonNode o;
        try {
            o = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot read it as JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        List<String> missing = new ArrayList<>();
        for (String field : FIELDS) {
            if (o == null || !o.hasNonNull(field)) {
                missing.add(field);
            }
        }
        if (!missing.isEmpty() || !o.path("hosts").isArray()) {
            throw new IllegalArgumentException("not a plan as fleet plan --out writes it: "
                    + (missing.isEmpty() ? "hosts is not a list" : "no " + String.join(", ", missing)));
        }
        List<String> hosts = new ArrayList<>();
        o.path("hosts").forEach(h -> hosts.add(h.asText()));
        return new Plan(o.path("target_version").asText(), hosts, o.path("max_parallel_hosts").asInt(),
                o.path("max_failures").asInt(), o.path("downtime_limit_ms").asDouble(), o.path("step_timeout_ms").asLong(),
                o.path("host_down_limit_ms").asLong());
    }
}
