package dev.livetap.actors.tap;

import dev.livetap.nativeio.OwnedFd;
import java.util.Optional;

/**
 * vhost-net for one TAP queue: the kernel moves the queue's frames itself once it knows the
 * TAP fd. On a migration target the vhost device is opened when the netdev is created
 * ({@link #open}) and bound to the TAP fd that arrived in the stream during post_load
 * ({@link #setUp}); {@link #tearDown} releases it.
 */
public interface VhostBackend {
    /** Prefix of the TapActor's post_load error, as QEMU's text: the reason follows. */
    String POST_LOAD_FAILURE = "Failed to setup vhost during TAP post-load: ";

    /** The full post_load error text for {@code reason}. */
    static String postLoadFailure(String reason) {
        return POST_LOAD_FAILURE + reason;
    }

    /** A vhost device opened for one queue. */
    record VhostQueue(int queueIndex, long handle) {
    }

    /** Whether vhost-net can be used here; computed once. */
    boolean isAvailable();

    /** Why not, when {@link #isAvailable()} is false. */
    Optional<String> unavailabilityCause();

    /**
     * Opens the vhost device for {@code queueIndex} (netdev creation time).
     *
     * @throws VhostException when the device cannot be opened
     */
    VhostQueue open(int queueIndex);

    /**
     * Binds {@code queue} to the TAP queue fd (VHOST_NET_SET_BACKEND and the calls before it).
     * The TAP fd stays owned by the caller.
     *
     * @throws VhostException when the kernel refuses
     */
    void setUp(VhostQueue queue, OwnedFd tapFd);

    /** Unbinds and closes {@code queue}; never throws, may be called for a queue never set up. */
    void tearDown(VhostQueue queue);
}
