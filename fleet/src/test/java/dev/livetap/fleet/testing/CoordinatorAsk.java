package dev.livetap.fleet.testing;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.fleet.cluster.FleetNode;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Command;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.GetStatus;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Reply;
import dev.livetap.fleet.coordinator.UpgradeCoordinator.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/** A test asking a node's coordinator: one bounded ask, and a bounded wait on the plan's status. */
public final class CoordinatorAsk {
    /**
     * How long one ask waits for its answer: the singleton may still be starting on a loaded machine, and
     * it is longer than the journal's connection timeout (a status asked during an outage waits for the journal).
     */
    public static final Duration ASK_TIMEOUT = Duration.ofSeconds(60);

    private CoordinatorAsk() {
    }

    /** The coordinator's answer to {@code message}, as a future bounded by {@link #ASK_TIMEOUT}. */
    public static CompletableFuture<Reply> askAsync(FleetNode node, Function<ActorRef<Reply>, Command> message) {
        return AskPattern.<Command, Reply>ask(node.coordinator(), message::apply, ASK_TIMEOUT, node.system().scheduler())
                .toCompletableFuture();
    }

    /** The coordinator's answer to {@code message}, waited for at most {@link #ASK_TIMEOUT}. */
    public static Reply ask(FleetNode node, Function<ActorRef<Reply>, Command> message) throws Exception {
        return askAsync(node, message).get(ASK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The coordinator's status once {@code condition} holds, asked every 50 ms for at most {@code timeout}; fails with {@code what} if it never does. */
    public static Status awaitStatus(FleetNode node, Duration timeout, Predicate<Status> condition, String what) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        Status s;
        do {
            Thread.sleep(50);
            s = assertInstanceOf(Status.class, ask(node, GetStatus::new));
        } while (!condition.test(s) && System.nanoTime() < deadline);
        assertTrue(condition.test(s), what + ": " + s);
        return s;
    }

    /** The status of the completed plan, waited for at most {@code timeout}. */
    public static Status awaitComplete(FleetNode node, Duration timeout) throws Exception {
        return awaitStatus(node, timeout, Status::complete, "the plan did not complete");
    }
}
