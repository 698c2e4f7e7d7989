package dev.livetap.fleet.bench;

import dev.livetap.fleet.agent.HostAgent;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * A stand-in host agent without VMMs, for the coordinator's benches and tests: it registers as an
 * agent, lists its VMs, and hands each step it is given to the caller, which answers it (or not).
 */
public final class StubAgent {
    private StubAgent() {
    }

    /**
     * Registers as {@code host}'s agent and lists {@code vms}; each {@code PerformStep} goes to
     * {@code onStep}, which replies as it likes and says whether the agent lives on (false: it stops, an
     * agent gone mid-step).
     */
    public static Behavior<HostAgent.Command> create(String host, List<String> vms, Predicate<HostAgent.PerformStep> onStep) {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(HostAgent.KEY, ctx.getSelf()));
            return Behaviors.receive(HostAgent.Command.class)
                    .onMessage(HostAgent.GetState.class, g -> {
                        g.replyTo().tell(new HostAgent.AgentState(host, 0, Map.of(), 1, vms));
                        return Behaviors.same();
                    })
                    .onMessage(HostAgent.PerformStep.class, p -> onStep.test(p) ? Behaviors.same() : Behaviors.stopped())
                    .build();
        });
    }

    /** Answers {@code p} {@code completed} with {@code downtimeMs}; true (the agent lives on). */
    public static boolean complete(HostAgent.PerformStep p, double downtimeMs) {
        p.replyTo().tell(new HostAgent.StepDone(p.vm(), p.migrationId(), "completed", downtimeMs));
        return true;
    }
}
