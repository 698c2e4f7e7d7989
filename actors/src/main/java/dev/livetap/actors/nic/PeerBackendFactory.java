package dev.livetap.actors.nic;

import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.options.PeerState;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;

/**
 * A netdev as its NIC sees it: how many peers (queues) it has, whether they wait for incoming
 * state, and how to create their backend actors. The NIC runs its realize checks on
 * {@link #peerStates()} before it calls {@link #open}, so nothing is opened for a refused device.
 */
public interface PeerBackendFactory {
    String netdevId();

    /** One entry per queue. */
    List<PeerState> peerStates();

    /** The interface the peers belong to, when known (for scripts and logs). */
    Optional<String> ifname();

    /** The virtio_net_hdr length frames to and from the guest carry (0, 10 or 12). */
    int vnetHdrLen();

    /**
     * Opens the backends (e.g. the TAP queues) and returns one behaviour per queue, frames read from
     * the host side going to {@code guest}. Throws if the resource cannot be opened; nothing stays open then.
     */
    List<Behavior<PeerBackend.Command>> open(ActorRef<GuestActor.Command> guest);
}
