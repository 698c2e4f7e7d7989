package dev.livetap.actors.guest;

import dev.livetap.actors.Receive;
import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.options.MacAddress;
import dev.livetap.actors.tap.TapActor;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The guest stand-in attached to one NIC: answers ARP and ICMP echo for its MAC and IPv4 address
 * through {@link GuestResponder}, replying on the queue the request came from. It works frame by
 * frame ({@link Rx} is one whole frame), so it always stops on a frame boundary; its state
 * ({@link GuestState}) travels with the NIC's section.
 */
public final class GuestActor {
    private GuestActor() {
    }

    public sealed interface Command permits Rx, Attach, Snapshot, Restore {
    }

    /** One frame read from queue {@code frame.queue()}. */
    public record Rx(TapActor.Received frame) implements Command {
    }

    /** The queues replies go to, by index. */
    public record Attach(List<ActorRef<PeerBackend.Command>> queues) implements Command {
        public Attach {
            queues = List.copyOf(queues);
        }
    }

    /** Answered with a {@link GuestSnapshot} carrying the same request id. */
    public record Snapshot(long requestId, ActorRef<GuestSnapshot> replyTo) implements Command {
    }

    public record GuestSnapshot(long requestId, GuestState state) {
    }

    /** Replaces the state with the one that arrived in the stream. */
    public record Restore(GuestState state) implements Command {
    }

    /** What migrates: the guest's addresses and what it has answered so far. */
    public record GuestState(MacAddress mac, Ipv4Address ip, GuestCounters counters) {
    }

    /** Resume: a restart would forget the queues it answers on ({@link Attach}); it holds no fd. */
    public static final SupervisorStrategy SUPERVISION = SupervisorStrategy.resume();

    public static Behavior<Command> create(GuestState initial, int vnetHdrLen) {
        return Behaviors.supervise(running(initial, vnetHdrLen, List.of())).onFailure(SUPERVISION);
    }

    private static Behavior<Command> running(GuestState state, int vnetHdrLen, List<ActorRef<PeerBackend.Command>> queues) {
        GuestResponder responder = new GuestResponder(state.mac(), state.ip(), vnetHdrLen);
        return Receive.of(Command.class)
                .onMessage(Rx.class, m -> {
                    GuestOutcome outcome = responder.respond(m.frame().frame());
                    int q = m.frame().queue();
                    outcome.reply().ifPresent(reply -> {
                        if (q < queues.size()) {
                            queues.get(q).tell(new PeerBackend.Transmit(reply));
                        }
                    });
                    return running(new GuestState(state.mac(), state.ip(), state.counters().after(outcome)),
                            vnetHdrLen, queues);
                })
                .onMessage(Attach.class, m -> running(state, vnetHdrLen, m.queues()))
                .onMessage(Snapshot.class, m -> {
                    m.replyTo().tell(new GuestSnapshot(m.requestId(), state));
                    return Behaviors.same();
                })
                .onMessage(Restore.class, m -> running(m.state(), vnetHdrLen, queues))
                .build();
    }
}
