package dev.livetap.actors.options;

/** What a virtio-net peer (one TAP queue) is doing when the NIC is realized. */
public enum PeerState {
    /** Opened and connected: the queue has its fd. */
    CONNECTED,
    /** {@code incoming-fds=on}: fd = -1, waiting for its state from the migration stream. */
    WAITING_INCOMING
}
