package dev.livetap.actors.nic;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.guest.GuestActor;
import dev.livetap.nativeio.FdInspector;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/** The immutable records {@link VirtioNetActor}'s behaviours carry. */
final class NicStates {
    private NicStates() {
    }

    /** What the NIC keeps for its whole life. */
    record Nic(ActorContext<VirtioNetActor.Command> ctx, TimerScheduler<VirtioNetActor.Command> timers, StashBuffer<VirtioNetActor.Command> stash,
            VirtioNetActor.NicConfig config, FdInspector fds, List<ActorRef<PeerBackend.Command>> peers, ActorRef<GuestActor.Command> guest,
            boolean peersWait, ActorRef<PeerBackend.QueueReply> peerReplies, ActorRef<GuestActor.GuestSnapshot> guestReplies) {
        Nic {
            peers = List.copyOf(peers);
        }

        String id() {
            return config.deviceId();
        }
    }

    /** What follows a complete gather: the next state. */
    @FunctionalInterface
    interface Then<R> {
        State apply(State s, List<R> replies);
    }

    /**
     * A gather in flight and what follows it; {@code stop}: a stop gather, whose timeout ends the stop
     * (the saves stashed behind it are refused).
     */
    /** @param migrationId the migration the gather runs for (its replies are handled with it in the MDC), or null */
    record Job<R>(FanOut<R> gather, Then<R> then, boolean stop, String migrationId) {
    }

    /**
     * The NIC's state: its host features, the gathers in flight, the stops in flight (saves wait in
     * the stash behind them), the rollbacks so far (a save that waited across one is refused), and
     * the peers' descriptions a save in progress gathered (by the describe's first request id).
     */
    record State(long hostFeatures, long nextRequestId, List<Job<?>> jobs, int stopsInFlight, long rollbacks,
            Map<Long, List<PeerBackend.Description>> described) {
        State {
            jobs = List.copyOf(jobs);
            described = Map.copyOf(described);
        }

        State withHostFeatures(long f) {
            return new State(f, nextRequestId, jobs, stopsInFlight, rollbacks, described);
        }

        State withNextRequestId(long n) {
            return new State(hostFeatures, n, jobs, stopsInFlight, rollbacks, described);
        }

        State withJobs(List<Job<?>> j) {
            return new State(hostFeatures, nextRequestId, j, stopsInFlight, rollbacks, described);
        }

        State withStops(int n) {
            return new State(hostFeatures, nextRequestId, jobs, n, rollbacks, described);
        }

        State withRollback() {
            return new State(hostFeatures, nextRequestId, jobs, stopsInFlight, rollbacks + 1, described);
        }

        State withDescribed(long key, List<PeerBackend.Description> ds) {
            Map<Long, List<PeerBackend.Description>> m = new TreeMap<>(described);
            if (ds == null) {
                m.remove(key);
            } else {
                m.put(key, List.copyOf(ds));
            }
            return new State(hostFeatures, nextRequestId, jobs, stopsInFlight, rollbacks, m);
        }
    }
}
