package dev.livetap.tools;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.cluster.OperatorClient;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.PlanPreview;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code livetap fleet plan}: what a plan would do if started now, from the fleet's own answers; starts nothing. */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Previews a plan without starting it: per host its agent, VMs, how many of them move and how many are already on the "
                + "target version (fleet start skips those), VMs in a step now and freeze budget, the "
                + "order and slot hosts would start in, an estimated duration, and every reason fleet start would be refused "
                + "or the plan would stall. --out FILE saves the plan for fleet start --plan FILE. Exit 0: ready; 1: not "
                + "ready (the reasons are printed).")
final class FleetPlanCommand implements Callable<Integer> {
    /** How long to wait for the planned hosts' agents to appear in this member's Receptionist listing. */
    private static final long LISTING_WAIT_MS = 5_000;

    @Option(names = "--seed-nodes", required = true, split = ",", paramLabel = "ADDR", description = "The fleet's seed nodes.")
    List<String> seedNodes;

    @Mixin
    FleetTransportOptions transport;

    @Mixin
    FleetPlanOptions options;

    @Option(names = "--step-estimate-s", paramLabel = "S", defaultValue = "1",
            description = "Seconds one VM step takes in one budget slot, for the estimate: default ${DEFAULT-VALUE}.")
    double stepEstimateS;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the plan to FILE (JSON) for fleet start --plan FILE.")
    Path out;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Plan plan = options.plan();
        BadOptionValue.range("--step-estimate-s", stepEstimateS, 0.001, 86_400);
        OperatorClient joined = FleetCommand.joinFleet(seedNodes, transport, "plan");
        if (joined == null) {
            return ExitCodes.FAILED;
        }
        PlanPreview preview;
        try (OperatorClient client = joined) {
            Map<String, HostAgent.AgentState> agents = client.agents();
            // a member that just joined sees the Receptionist's listing converge: wait (bounded) for the planned hosts
            long deadline = System.nanoTime() + LISTING_WAIT_MS * 1_000_000;
            while (!agents.keySet().containsAll(plan.hosts()) && System.nanoTime() < deadline) {
                Thread.sleep(250);
                agents = client.agents();
            }
            preview = PlanPreview.of(plan, agents, client.status(), stepEstimateS);
        }
        if (out != null) {
            FleetPlanOptions.write(plan, out);
        }
        System.out.println(json ? Json.write(toJson(preview, out)) : text(preview, out));
        return preview.ready() ? ExitCodes.OK : ExitCodes.FAILED;
    }

    static ObjectNode toJson(PlanPreview p, Path out) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.set("plan", FleetPlanOptions.toJson(p.plan()));
        o.put("ready", p.ready());
        o.put("vms", p.vms());
        o.put("moving", p.moving());
        o.put("on_target", p.onTarget());
        o.put("coordinator_state", p.coordinatorState());
        o.put("open_steps", p.openSteps());
        o.put("step_estimate_s", p.stepEstimateS());
        o.put("eta_s", p.etaS());
        ArrayNode hosts = o.putArray("hosts");
        for (PlanPreview.Host h : p.hosts()) {
            ObjectNode x = hosts.addObject();
            x.put("host", h.host()).put("agent", h.agent()).put("has_target_version", h.hasTarget()).put("vms", h.vms())
                    .put("moving", h.moving()).put("on_target", h.onTarget()).put("in_step", h.inStep())
                    .put("budget", h.budget()).put("slot", h.slot()).put("start_s", h.startS()).put("end_s", h.endS());
        }
        ArrayNode problems = o.putArray("problems");
        p.problems().forEach(problems::add);
        if (out != null) {
            o.put("written", out.toString());
        }
        return o;
    }

    static String text(PlanPreview p, Path out) {
        Plan plan = p.plan();
        StringBuilder s = new StringBuilder();
        s.append("plan to ").append(plan.targetVersion()).append(": ").append(plan.hosts().size()).append(" host(s), ")
                .append(p.vms()).append(" VM(s) known: ").append(p.moving()).append(" to move, ").append(p.onTarget())
                .append(" already on ").append(plan.targetVersion()).append(" (skipped); at most ").append(plan.maxParallelHosts()).append(" host(s) at once, halt after ")
                .append(plan.maxFailures()).append(" failure(s), downtime limit ").append(fmt(plan.downtimeLimitMs())).append(" ms\n");
        s.append(String.format(Locale.ROOT, "%-16s %-6s %-6s %6s %6s %9s %8s %7s %5s %10s %10s%n", "host", "agent", "build", "vms",
                "move", "on target", "in step", "budget", "slot", "starts s", "ends s"));
        for (PlanPreview.Host h : p.hosts()) {
            s.append(String.format(Locale.ROOT, "%-16s %-6s %-6s %6s %6s %9s %8d %7s %5d %10s %10s%n", h.host(), h.agent() ? "yes" : "none",
                    h.agent() ? (h.hasTarget() ? "yes" : "no") : "-",
                    h.agent() ? Integer.toString(h.vms()) : "?", h.agent() ? Integer.toString(h.moving()) : "?",
                    h.agent() ? Integer.toString(h.onTarget()) : "?", h.inStep(), h.agent() ? Integer.toString(h.budget()) : "-",
                    h.slot(), fmt(h.startS()), fmt(h.endS())));
        }
        s.append("estimate: ").append(fmt(p.etaS())).append(" s at ").append(fmt(p.stepEstimateS()))
                .append(" s per VM step per budget slot (--step-estimate-s); coordinator: ").append(p.coordinatorState()).append('\n');
        if (out != null) {
            s.append("written to ").append(out).append(" (fleet start --plan ").append(out).append(")\n");
        }
        if (p.ready()) {
            s.append("ready: fleet start with this plan would be accepted");
        } else {
            s.append("not ready:");
            p.problems().forEach(x -> s.append("\n  - ").append(x));
        }
        return s.toString();
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.1f", v);
    }
}
