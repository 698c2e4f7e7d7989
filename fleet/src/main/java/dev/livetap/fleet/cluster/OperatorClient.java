package dev.livetap.fleet.cluster;

import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

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

    private UpgradeCoordinator.Reply ask(
            java.util.function.Function<org.apache.pekko.actor.typed.ActorRef<UpgradeCoordinator.Reply>, UpgradeCoordinator.Command> m)
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
