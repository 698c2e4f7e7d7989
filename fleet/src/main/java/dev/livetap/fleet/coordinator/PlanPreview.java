package dev.livetap.fleet.coordinator;

import dev.livetap.fleet.agent.HostAgent;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * What a plan would do if started now ({@code livetap fleet plan}): per host its agent, VMs, VMs already in a
 * step and budget; the order hosts would start in ({@link PlanDriver} admits them in plan order while fewer than
 * {@code maxParallelHosts} are active); a duration estimate; and every reason {@code fleet start} would be
 * refused or the plan would stall. Computed from what the fleet answers; changes nothing.
 *
 * @param hosts             one line per planned host, in plan order
 * @param vms               VMs of the hosts whose agent answered
 * @param onTarget          of those, the VMs already on the plan's target version: {@code fleet start} would skip them
 *                          ({@code SKIPPED already on V}, the rule of {@link HostAgent.AgentState#alreadyOn}); the others move
 * @param coordinatorState  the coordinator's plan state now (none, running, paused, complete, ...)
 * @param stepEstimateS     the seconds one VM step is assumed to take in one budget slot
 * @param etaS              the estimated duration (a host without an agent holds its slot for the host-down limit)
 * @param problems          why {@code fleet start} would be refused, or the plan would not complete as asked
 */
public record PlanPreview(Plan plan, List<Host> hosts, int vms, int onTarget, String coordinatorState, int openSteps, double stepEstimateS,
        double etaS, List<String> problems) {
    /** States in which the coordinator refuses a new plan. */
    private static final Set<String> BUSY = Set.of("running", "paused", "aborting", "halting");

    /**
     * One planned host.
     *
     * @param agent       whether an agent registered for it answered
     * @param hasTarget   whether that agent can start a VMM of the plan's target version (its reported builds;
     *                    true for an agent that does not tell builds apart; false without an agent)
     * @param vms         its VMs (-1: no agent answered)
     * @param onTarget    of those, the VMs already on the plan's target version (skipped, not moved); 0 without an agent
     * @param inStep      VMs in a step right now (the agent's running steps)
     * @param budget      the agent's freeze budget K now (0: no agent)
     * @param slot        which of the {@code maxParallelHosts} slots it runs in (1-based)
     * @param startS      estimated start, seconds after the plan starts
     * @param endS        estimated end (a host without an agent: when the plan would give it up)
     */
    public record Host(String host, boolean agent, boolean hasTarget, int vms, int onTarget, int inStep, int budget, int slot,
            double startS, double endS) {
        /** The VMs a plan would move (-1: no agent answered). */
        public int moving() {
            return agent ? vms - onTarget : -1;
        }
    }

    public PlanPreview {
        hosts = List.copyOf(hosts);
        problems = List.copyOf(problems);
    }

    /** The VMs a plan would move: {@link #vms} less {@link #onTarget}. */
    public int moving() {
        return vms - onTarget;
    }

    /** Whether {@code fleet start} with this plan would be accepted and every host has an agent to run it. */
    public boolean ready() {
        return problems.isEmpty();
    }

    /**
     * @param agents      the agents that answered, by host (hosts of the plan without one are reported)
     * @param coordinator the coordinator's status now
     */
    public static PlanPreview of(Plan plan, Map<String, HostAgent.AgentState> agents, UpgradeCoordinator.Status coordinator,
            double stepEstimateS) {
        if (!(stepEstimateS > 0)) {
            throw new IllegalArgumentException("the step estimate must be above 0 s: " + stepEstimateS);
        }
        List<String> problems = new ArrayList<>();
        if (BUSY.contains(coordinator.state())) {
            problems.add("a plan is " + coordinator.state() + " (" + coordinator.open().size() + " step(s) open): fleet start is "
                    + "refused until it completes, halts or is aborted (fleet abort)");
        }
        Set<String> seen = new HashSet<>();
        for (String h : plan.hosts()) {
            if (!seen.add(h)) {
                problems.add("host " + h + " is listed twice");
            }
        }
        // list scheduling in plan order: a host starts in the slot that frees first
        PriorityQueue<double[]> slots = new PriorityQueue<>((a, b) -> a[0] != b[0] ? Double.compare(a[0], b[0])
                : Double.compare(a[1], b[1]));
        for (int i = 0; i < plan.maxParallelHosts(); i++) {
            slots.add(new double[] {0, i + 1});
        }
        double eta = 0;
        int vms = 0;
        int onTarget = 0;
        int missing = 0;
        List<Host> lines = new ArrayList<>();
        for (String h : plan.hosts()) {
            HostAgent.AgentState a = agents.get(h);
            double[] slot = slots.poll();
            double start = slot[0];
            if (a == null) {
                // the driver holds the host's slot until it gives the host up
                missing++;
                slot[0] += plan.hostDownLimitMs() / 1000.0;
                problems.add("host " + h + ": no agent answered; the plan would wait for one and give the host up after "
                        + plan.hostDownLimitMs() / 1000 + " s (one failure)");
                lines.add(new Host(h, false, false, -1, 0, 0, 0, (int) slot[1], start, slot[0]));
            } else {
                int k = Math.max(1, a.budgetLimit());
                int skipped = a.alreadyOn(plan.targetVersion());
                slot[0] += Math.ceil((a.vms().size() - skipped) / (double) k) * stepEstimateS; // a skipped VM starts no VMM
                vms += a.vms().size();
                onTarget += skipped;
                if (!a.running().isEmpty()) {
                    problems.add("host " + h + ": " + a.running().size() + " VM(s) in a step now " + a.running().keySet()
                            + "; the plan's steps for them wait until those end");
                }
                boolean hasTarget = a.has(plan.targetVersion());
                if (!hasTarget) {
                    problems.add("host " + h + ": its agent has no VMM build " + plan.targetVersion() + " (it has "
                            + String.join(", ", a.builds()) + "): each of its " + a.vms().size() + " step(s) would be refused"
                            + " (livetap agent --vmm-build " + plan.targetVersion() + "=LAUNCHER)");
                }
                lines.add(new Host(h, true, hasTarget, a.vms().size(), skipped, a.running().size(), a.budgetLimit(), (int) slot[1], start, slot[0]));
            }
            eta = Math.max(eta, slot[0]);
            slots.add(slot);
        }
        if (missing > plan.maxFailures()) {
            problems.add(missing + " host(s) without an agent exceed --max-failures " + plan.maxFailures()
                    + ": the plan would halt");
        }
        return new PlanPreview(plan, lines, vms, onTarget, coordinator.state(), coordinator.open().size(), stepEstimateS,
                eta, problems);
    }
}
