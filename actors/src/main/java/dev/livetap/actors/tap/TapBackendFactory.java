package dev.livetap.actors.tap;

import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.nic.PeerBackend;
import dev.livetap.actors.nic.PeerBackendFactory;
import dev.livetap.actors.options.PeerState;
import dev.livetap.actors.options.TapNetdevOptions;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;

/**
 * A TAP netdev as a source of peer backends: opens its queues with {@code os.tun().openQueues}
 * (TUNSETIFF), starts them with the fds passed with {@code fd=}/{@code fds=} ({@link PassedTapFds},
 * already attached: no TUNSETIFF) or, with {@code incoming-fds=on}, creates queues that wait with
 * fd = -1. The vhost
 * queues of an {@code incoming-fds} netdev with vhost are opened at netdev creation (by whoever
 * creates this factory) and passed in, one per queue.
 */
public final class TapBackendFactory implements PeerBackendFactory {
    private final TapNetdevOptions options;
    private final Os os;
    private final VhostBackend vhost;
    private final List<VhostBackend.VhostQueue> vhostQueues;
    /** The fds of {@code fd=}/{@code fds=}, handed to the queues by {@link #open}; null for other netdevs. */
    private final PassedTapFds passed;

    public TapBackendFactory(TapNetdevOptions options, Os os, VhostBackend vhost,
            List<VhostBackend.VhostQueue> vhostQueues) {
        this(options, null, os, vhost, vhostQueues);
    }

    /**
     * @param passed the checked fds of {@code fd=}/{@code fds=} (one per queue), or null; {@link #open}
     *     gives them to the queue actors, which own them from then on
     */
    public TapBackendFactory(TapNetdevOptions options, PassedTapFds passed, Os os, VhostBackend vhost,
            List<VhostBackend.VhostQueue> vhostQueues) {
        if (passed != null && passed.fds().size() != options.queueCount()) {
            throw new IllegalArgumentException("one passed fd per queue: " + passed.fds().size() + " fds for "
                    + options.queueCount() + " queues");
        }
        this.passed = passed;
        this.options = options;
        this.os = os;
        this.vhost = vhost;
        this.vhostQueues = List.copyOf(vhostQueues);
        if (!this.vhostQueues.isEmpty() && (vhost == null || this.vhostQueues.size() != options.queueCount())) {
            throw new IllegalArgumentException("one vhost queue per TAP queue, and a backend for them");
        }
    }

    @Override
    public String netdevId() {
        return options.id();
    }

    @Override
    public List<PeerState> peerStates() {
        return Collections.nCopies(options.queueCount(),
                options.waitsForIncomingFds() ? PeerState.WAITING_INCOMING : PeerState.CONNECTED);
    }

    @Override
    public Optional<String> ifname() {
        return passed != null ? Optional.of(passed.ifname()) : options.ifname();
    }

    @Override
    public int vnetHdrLen() {
        return vnetHdr() ? 10 : 0;
    }

    /** IFF_VNET_HDR: as the passed fds have it (QEMU probes it too), else the {@code vnet_hdr} option. */
    private boolean vnetHdr() {
        return passed != null ? passed.vnetHdr() : options.vnetHdr();
    }

    /** The interface a non-incoming netdev opens: {@code ifname=}, else its id (at most 15 characters). */
    private String ifnameToOpen() {
        String id = options.id();
        return options.ifname().orElse(id.length() > 15 ? id.substring(0, 15) : id);
    }

    @Override
    public List<Behavior<PeerBackend.Command>> open(ActorRef<GuestActor.Command> guest) {
        int n = options.queueCount();
        List<Behavior<PeerBackend.Command>> out = new ArrayList<>(n);
        if (options.waitsForIncomingFds()) {
            for (int q = 0; q < n; q++) {
                TapQueueConfig config = new TapQueueConfig(options.id(), options.ifname().orElse(null), q, n,
                        options.vnetHdr());
                VhostBackend.VhostQueue vq = vhostQueues.isEmpty() ? null : vhostQueues.get(q);
                Behavior<TapActor.Command> tap = TapActor.waitingIncoming(config, os,
                        r -> guest.tell(new GuestActor.Rx(r)), vq == null ? null : vhost, vq);
                out.add(TapPeerBackend.create(tap, q, PeerState.WAITING_INCOMING, options.vnetHdr()));
            }
            return out;
        }
        String ifname = passed != null ? passed.ifname() : ifnameToOpen();
        boolean vnetHdr = vnetHdr();
        List<OwnedFd> fds;
        if (passed != null) {
            fds = passed.fds(); // attached already, checked by PassedTapFds.take
        } else {
            fds = os.tun().openQueues(ifname, n, new TapQueueConfig(options.id(), ifname, 0, n, vnetHdr).flags());
        }
        // has_ufo/has_uso/has_tunnel of net-tap are the device's: probed once, on the first queue
        TapFeatures features = fds.isEmpty() ? TapFeatures.NONE : TapFeatures.probe(os.tun(), fds.get(0));
        for (int q = 0; q < n; q++) {
            TapQueueConfig config = new TapQueueConfig(options.id(), ifname, q, n, vnetHdr);
            Behavior<TapActor.Command> tap = TapActor.opened(config, os,
                    (java.util.function.Consumer<TapActor.Received>) r -> guest.tell(new GuestActor.Rx(r)),
                    fds.get(q), features);
            out.add(TapPeerBackend.create(tap, q, PeerState.CONNECTED, vnetHdr));
        }
        return out;
    }
}
