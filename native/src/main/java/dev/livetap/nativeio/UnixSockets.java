package dev.livetap.nativeio;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * AF_UNIX SOCK_STREAM primitives, all non-blocking and close-on-exec. The framing layer
 * ({@link UnixFrameChannel}) and the QMP server build on these; nothing else calls sendmsg.
 */
public interface UnixSockets {
    /** SCM_MAX_FD: the kernel accepts at most this many fds in one sendmsg. */
    int SCM_MAX_FD = 253;

    /** socket + bind + listen on a path, then chmod to {@code mode} (e.g. 0600). Replaces nothing: fails if the path exists. */
    OwnedFd listen(Path path, int mode);

    /** accept4(SOCK_NONBLOCK|SOCK_CLOEXEC); null when no connection is pending (EAGAIN). */
    OwnedFd accept(OwnedFd listener);

    /** A connected non-blocking stream socket to {@code path}. */
    OwnedFd connect(Path path);

    /** socketpair(AF_UNIX, SOCK_STREAM): two connected non-blocking ends. */
    OwnedFd[] socketPair();

    /** SO_PEERCRED. */
    PeerCredentials peerCredentials(OwnedFd socket);

    /**
     * Whether {@code fd} is an AF_UNIX SOCK_STREAM socket (getsockopt SO_DOMAIN and SO_TYPE; false
     * for any other file): only such a socket carries SCM_RIGHTS, e.g. the fd of an {@code fd:}
     * migration URI.
     */
    default boolean isUnixStreamSocket(OwnedFd fd) {
        return false; // an implementation that cannot tell refuses fd: URIs
    }

    /**
     * One sendmsg of {@code data} (from its position to its limit) with {@code fds} (at most
     * {@link #SCM_MAX_FD}) attached to the first byte. Advances the buffer's position.
     *
     * @return bytes sent, 0 if the socket would block (then nothing, fds included, was sent)
     */
    int sendmsg(OwnedFd socket, ByteBuffer data, List<OwnedFd> fds);

    /**
     * One recvmsg with MSG_CMSG_CLOEXEC into {@code into} (up to its remaining space), with room
     * for {@code maxFds} fds. Received fds are appended to {@code fdsOut} as owned fds.
     *
     * @return bytes read; 0 if it would block; -1 at end of stream
     * @throws FdsTruncatedException on MSG_CTRUNC (fds dropped by the kernel; the bytes read are in {@code into}); the fds that did arrive
     *     are closed first
     */
    int recvmsg(OwnedFd socket, ByteBuffer into, List<OwnedFd> fdsOut, int maxFds);

    /** Removes a socket path if it exists and is a socket (stale listener cleanup). */
    void unlinkSocket(Path path);

    /** lstat(2): the identity of whatever {@code path} names now; empty when nothing is there. */
    Optional<PathIdentity> identity(Path path);

    /**
     * Removes {@code path} only if it still names {@code expected} (a socket or a lock file this
     * process created): a path someone else bound since is left alone.
     *
     * @return whether it was removed
     */
    boolean unlinkIfSame(Path path, PathIdentity expected);

    /**
     * The exclusive lock that says a socket path is owned by a live process:
     * {@code open(lockFile, O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0600)} and
     * {@code flock(LOCK_EX|LOCK_NB)} (flock(2)). The lock lives as long as the returned fd (the
     * kernel drops it when the holder dies, in whatever namespace it runs). A lock taken on a
     * file that its previous holder unlinked meanwhile is dropped and taken again on the new file.
     *
     * @return the held lock; empty when another open file holds it
     */
    Optional<OwnedFd> tryLock(Path lockFile);
}
