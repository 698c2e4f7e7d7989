package dev.livetap.nativeio;

import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Who may talk to a livetap socket, decided on SO_PEERCRED at accept time (file permissions
 * are the first fence; this is the second, and it also holds for a world-accessible socket).
 */
public record PeerPolicy(Set<Integer> allowedUids) {
    public PeerPolicy {
        allowedUids = Set.copyOf(allowedUids);
        if (allowedUids.isEmpty()) {
            throw new IllegalArgumentException("a peer policy must allow at least one uid");
        }
    }

    /** Only the uid this process runs as (the default). */
    public static PeerPolicy sameUser(int ownUid) {
        return new PeerPolicy(Set.of(ownUid));
    }

    /** Empty when the peer may connect, else why not (for the log line). */
    public Optional<String> refusal(PeerCredentials peer) {
        if (allowedUids.contains(peer.uid())) {
            return Optional.empty();
        }
        return Optional.of("peer pid " + peer.pid() + " uid " + peer.uid() + " gid " + peer.gid()
                + " is not allowed (allowed uids: " + new TreeSet<>(allowedUids) + ")");
    }
}
