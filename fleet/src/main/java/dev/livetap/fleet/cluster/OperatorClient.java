package dev.livetap.fleet.cluster;

import dev.livetap.fleet.agent.HostAgent;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * An operator's short-lived cluster member (role {@code operator}: never runs the coordinator,
 * never opens the journal): joins through the seed nodes, asks the coordinator singleton through
 * its proxy, leaves. Its authentication is the cluster transport's: with {@link FleetTls.Stores}
 * (every command's default) the fleet admits it only with a certificate signed by the fleet's CA.
 */
public final class OperatorClient implements AutoCloseable {
    private final FleetNode node;
    private final Duration timeout;

    private OperatorClient(FleetNode node, Duration timeout) {
        this.node = node;
        this.timeout = timeout;
    }

    /**
     * Joins the fleet through {@code seedNodes} with {@code tls} (the fleet's own setting: a member with another
     * transport, or a certificate from another CA, is never admitted and this times out).
     */
    public static OperatorClient join(List<String> seedNodes, FleetTls tls, Duration timeout) throws TimeoutException {
        if (seedNodes.isEmpty()) {
            throw new IllegalArgumentException("give the fleet's seed nodes");
        }
        return new OperatorClient(FleetNode.start(new FleetConfig("127.0.0.1", 0, seedNodes, "jdbc:h2:mem:never-opened",
                List.of(FleetNode.OPERATOR_ROLE), tls, FleetConfig.MANAGEMENT_OFF), timeout), timeout);
    }

    public UpgradeCoordinator.Reply submit(Plan plan) throws TimeoutException, InterruptedException {
        return ask(r -> new UpgradeCoordinator.SubmitPlan(plan, r));
    }

    public UpgradeCoordinator.Status status() throws TimeoutException, InterruptedException {
        UpgradeCoordinator.Reply r = ask(UpgradeCoordinator.GetStatus::new);
        if (r instanceof UpgradeCoordinator.Status s) {
            return s;
        }
        throw new IllegalStateException("the coordinator answered " + r);
    }

    /** {@code fleet pause|resume|abort}: {@link UpgradeCoordinator.Controlled} or {@link UpgradeCoordinator.Rejected}. */
    public UpgradeCoordinator.Reply control(UpgradeCoordinator.Action action) throws TimeoutException, InterruptedException {
        return ask(r -> new UpgradeCoordinator.ControlPlan(action, r));
    }

    /**
     * The state of every host agent the Receptionist lists now (this member's view once it has joined: an agent
     * registered a moment ago may not be listed yet), by host; an agent that does not answer within the timeout
     * is left out.
     */
    public Map<String, HostAgent.AgentState> agents() throws TimeoutException, InterruptedException {
        Receptionist.Listing listing;
        try {
            listing = AskPattern.<Receptionist.Command,
                    Receptionist.Listing>ask(node.system().receptionist(),
                    r -> Receptionist.find(HostAgent.KEY, r),
                    timeout, node.system().scheduler()).toCompletableFuture().get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new TimeoutException("the receptionist did not answer within " + timeout.toMillis() + " ms: " + e.getCause());
        }
        List<CompletableFuture<HostAgent.AgentState>> asked = new ArrayList<>();
        for (ActorRef<HostAgent.Command> agent
                : listing.getServiceInstances(HostAgent.KEY)) {
            asked.add(AskPattern.<HostAgent.Command, HostAgent.AgentState>ask(agent,
                    HostAgent.GetState::new, timeout, node.system().scheduler()).toCompletableFuture());
        }
        Map<String, HostAgent.AgentState> byHost = new TreeMap<>();
        for (CompletableFuture<HostAgent.AgentState> f : asked) {
            try {
                HostAgent.AgentState s = f.get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
                byHost.put(s.host(), s);
            } catch (ExecutionException | TimeoutException e) {
                // an agent that does not answer is reported as missing by the caller
            }
        }
        return byHost;
    }

    private UpgradeCoordinator.Reply ask(
            Function<ActorRef<UpgradeCoordinator.Reply>, UpgradeCoordinator.Command> m)
            throws TimeoutException, InterruptedException {
        try {
            return AskPattern.<UpgradeCoordinator.Command, UpgradeCoordinator.Reply>ask(node.coordinator(), m::apply, timeout,
                    node.system().scheduler()).toCompletableFuture().get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            TimeoutException t = new TimeoutException("the coordinator did not answer within " + timeout.toMillis() + " ms: "
                    + e.getCause());
            t.initCause(e.getCause());
            throw t;
        }
    }

    @Override
    public void close() {
        node.close();
    }
}
