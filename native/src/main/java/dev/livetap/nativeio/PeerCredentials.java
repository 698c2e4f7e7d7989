package dev.livetap.nativeio;

/** SO_PEERCRED of a connected AF_UNIX socket: who is on the other end. */
public record PeerCredentials(int pid, int uid, int gid) {
}
