package dev.livetap.nativeio;

/**
 * Reaching into another process's descriptors through {@code pidfd_open(2)} and
 * {@code pidfd_getfd(2)} (Linux 5.6+, ptrace rights over the process, i.e. root here).
 */
public interface Pidfds {
    /**
     * {@code shutdown(SHUT_RDWR)} on descriptor {@code fd} of process {@code pid}, through a
     * duplicate taken with {@code pidfd_getfd(2)}: the socket is shared, so the process reads EOF and
     * its peer's next write or read fails. Throws {@link IllegalStateException} naming the call and errno.
     */
    void shutdown(long pid, int fd);
}
