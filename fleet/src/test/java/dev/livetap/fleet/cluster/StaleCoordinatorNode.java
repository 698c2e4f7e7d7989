package dev.livetap.fleet.cluster;

import dev.livetap.fleet.agent.HostAgent;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * A fleet node as its own JVM for {@link SplitBrainResolverTest}: a coordinator-capable member (plain TCP, the
 * test's shortened Split Brain Resolver through {@code -D}) that, with {@code --act}, behaves as a coordinator of
 * epoch 1 that does not know it was replaced: every 250 ms it sends each host agent it sees a new step
 * ({@code stale-N}, epoch 1) and prints the answers ({@code REPLY ID TYPE DETAIL}). Prints {@code READY ADDRESS},
 * {@code REMOVED} when its member left the cluster and {@code TERMINATED} when its actor system ended; then exits.
 *
 * <p>Arguments: {@code SEED [--act]}.
 */
public final class StaleCoordinatorNode {
    private StaleCoordinatorNode() {
    }

    private sealed interface Msg permits Tick, Listing, Answer {
    }

    private record Tick() implements Msg {
    }

    private record Listing(Set<ActorRef<HostAgent.Command>> agents) implements Msg {
    }

    private record Answer(HostAgent.StepReply reply) implements Msg {
    }

    public static void main(String[] args) throws Exception {
        String seed = args[0];
        boolean act = args.length > 1 && args[1].equals("--act");
        FleetNode node = FleetNode.start(new FleetConfig("127.0.0.1", 0, List.of(seed), "jdbc:h2:mem:never-opened",
                List.of(FleetNode.COORDINATOR_ROLE)), Duration.ofSeconds(120));
        CountDownLatch ended = new CountDownLatch(1);
        org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(node.system()))
                .registerOnMemberRemoved(() -> say("REMOVED"));
        node.system().getWhenTerminated().thenRun(() -> {
            say("TERMINATED");
            ended.countDown();
        });
        if (act) {
            node.system().systemActorOf(stale(), "stale-coordinator", org.apache.pekko.actor.typed.Props.empty());
        }
        say("READY " + Cluster.get(node.system()).selfMember().address());
        // bounded: the test waits far less; a stray child must not outlive it for long
        ended.await(10, TimeUnit.MINUTES);
        System.exit(0);
    }

    private static Behavior<Msg> stale() {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.subscribe(HostAgent.KEY,
                    ctx.messageAdapter(Receptionist.Listing.class, l -> new Listing(l.getServiceInstances(HostAgent.KEY)))));
            ActorRef<HostAgent.StepReply> answers = ctx.messageAdapter(HostAgent.StepReply.class, Answer::new);
            return Behaviors.withTimers(timers -> {
                timers.startTimerAtFixedRate(new Tick(), Duration.ofMillis(250));
                return acting(Set.of(), 0, answers);
            });
        });
    }

    private static Behavior<Msg> acting(Set<ActorRef<HostAgent.Command>> agents, int sent, ActorRef<HostAgent.StepReply> answers) {
        return Behaviors.receive(Msg.class)
                .onMessage(Listing.class, l -> acting(l.agents(), sent, answers))
                .onMessage(Tick.class, t -> {
                    int n = sent;
                    for (ActorRef<HostAgent.Command> agent : agents) {
                        n++;
                        agent.tell(new HostAgent.PerformStep(SplitBrainResolverTest.HOST, "vm-" + n, "stale-" + n, 1, answers));
                    }
                    return acting(agents, n, answers);
                })
                .onMessage(Answer.class, a -> {
                    HostAgent.StepReply r = a.reply();
                    say("REPLY " + r.migrationId() + " " + r.getClass().getSimpleName() + " "
                            + (r instanceof HostAgent.StepRefused x ? x.reason() : r instanceof HostAgent.StepDone d ? d.outcome() : ""));
                    return Behaviors.same();
                })
                .build();
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
