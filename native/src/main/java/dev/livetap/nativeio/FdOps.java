package dev.livetap.nativeio;

/**
 * The two operations an {@link OwnedFd} needs from whichever OS created it, so that the real
 * kernel and the in-memory OS share one ownership type.
 */
public interface FdOps {
    /** close(2); must not throw for a valid descriptor. */
    void close(int fd);

    /** dup(2) with close-on-exec, returning the new descriptor number. */
    int dup(int fd);
}
