package dev.livetap.engine.transport;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PathIdentity;
import dev.livetap.nativeio.UnixSockets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owning a listening socket's path, for the QMP server and the migration transport. The process
 * that binds {@code PATH} holds {@code flock(LOCK_EX)} on {@code PATH.lock} for the socket's
 * lifetime; the kernel drops that lock when the process dies, whatever network namespace it ran
 * in. So a path whose lock is held belongs to a live process and is refused; a path whose lock is
 * free holds at most a leftover socket, which is replaced. Nothing connects to probe the path
 * (a live incoming-migration listener would take the probe for its peer), and /proc/net/unix
 * alone cannot decide (it lists only the caller's network namespace): it is consulted only to
 * refuse a listener that holds no lock (another program, or a livetap older than lock files).
 * Closing unlinks the path only while it still names the socket bound here.
 */
public final class SocketPaths {
    private static final Logger LOG = LoggerFactory.getLogger(SocketPaths.class);
    /** Appended to a socket path to name its lock file. */
    public static final String LOCK_SUFFIX = ".lock";

    private SocketPaths() {
    }

    /** {@code PATH.lock}: the file whose flock says a live process owns {@code socket}. */
    public static Path lockFileOf(Path socket) {
        return socket.resolveSibling(socket.getFileName() + LOCK_SUFFIX);
    }

    /**
     * A socket listening at a path it owns: the listener, the lock held beside it, and the
     * identities both paths had when they were made. {@link #close()} is idempotent.
     */
    public static final class BoundSocket implements AutoCloseable {
        private final UnixSockets unix;
        private final Path path;
        private final OwnedFd listener;
        private final PathIdentity socketIdentity;
        private final OwnedFd lock;
        private final PathIdentity lockIdentity;
        private boolean closed;

        private BoundSocket(UnixSockets unix, Path path, OwnedFd listener, PathIdentity socketIdentity, OwnedFd lock,
                PathIdentity lockIdentity) {
            this.unix = unix;
            this.path = path;
            this.listener = listener;
            this.socketIdentity = socketIdentity;
            this.lock = lock;
            this.lockIdentity = lockIdentity;
        }

        public Path path() {
            return path;
        }

        public OwnedFd listener() {
            return listener;
        }

        /** lstat identity of the socket file as bound. */
        public PathIdentity identity() {
            return socketIdentity;
        }

        /**
         * Removes the socket path if it still names this socket and the lock file while still holding
         * its lock, then closes the listener and lets go of the lock.
         */
        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            // compared while our listener and lock are open: they pin their inodes, so no other file at
            // the path can carry the same inode number (the file system reuses freed ones at once)
            try {
                if (!unix.unlinkIfSame(path, socketIdentity)) {
                    LOG.warn("socket {}: left in place, it is no longer the socket this process bound", path);
                }
                unix.unlinkIfSame(lockFileOf(path), lockIdentity);
            } finally {
                listener.close();
                lock.close();
            }
        }
    }

    /**
     * Listens at {@code path} with {@code mode} after taking its lock: a path whose lock another
     * process holds is refused with an {@link IllegalStateException} naming it; a leftover socket
     * with a free lock is replaced; anything that is not a socket is left alone and refused.
     */
    public static BoundSocket listenExclusive(UnixSockets unix, Path path, int mode) {
        Path lockFile = lockFileOf(path);
        Optional<OwnedFd> held;
        try {
            held = unix.tryLock(lockFile);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot lock " + lockFile + " before listening on " + path + ": " + e.getMessage(), e);
        }
        if (held.isEmpty()) {
            throw new IllegalStateException("refusing to listen on " + path + ": a live process is already listening there (it holds the lock "
                    + lockFile + "; it may run in another network namespace)");
        }
        OwnedFd lock = held.get();
        PathIdentity lockIdentity = null;
        OwnedFd listener = null;
        try {
            lockIdentity = unix.identity(lockFile).orElseThrow(() -> new IllegalStateException(lockFile + " vanished while locked"));
            try {
                listener = unix.listen(path, mode);
            } catch (RuntimeException first) {
                listener = replace(unix, path, mode, first);
            }
            PathIdentity socketIdentity = unix.identity(path)
                    .orElseThrow(() -> new IllegalStateException(path + " vanished right after bind"));
            return new BoundSocket(unix, path, listener, socketIdentity, lock, lockIdentity);
        } catch (RuntimeException e) {
            if (listener != null) {
                listener.close();
            }
            if (lockIdentity != null) {
                unix.unlinkIfSame(lockFile, lockIdentity);
            }
            lock.close();
            throw e;
        }
    }

    /**
     * Whether this network namespace's /proc/net/unix lists a listening socket (__SO_ACCEPTCON)
     * bound to {@code path}; empty when the path is not a socket on this host's file system (e.g.
     * the in-memory OS) or the table cannot be read.
     */
    static Optional<Boolean> listeningInKernelTable(Path path) {
        try {
            if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
                return Optional.empty();
            }
            Object mode = Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            if (((Integer) mode & 0170000) != 0140000) {
                return Optional.empty(); // not a socket: the replace step refuses it
            }
            String abs = path.toAbsolutePath().normalize().toString();
            for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && (f[7].equals(abs) || f[7].equals(path.toString()))
                        && (Long.parseLong(f[3], 16) & 0x10000) != 0) {
                    return Optional.of(true);
                }
            }
            return Optional.of(false);
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The lock is ours: whatever socket sits at the path was left by a process that died. */
    private static OwnedFd replace(UnixSockets unix, Path path, int mode, RuntimeException first) {
        if (listeningInKernelTable(path).orElse(false)) {
            throw new IllegalStateException("refusing to listen on " + path
                    + ": a process that holds no lock file is already listening there", first);
        }
        try {
            unix.unlinkSocket(path); // removes sockets only
        } catch (RuntimeException notSocket) {
            notSocket.addSuppressed(first);
            throw new IllegalStateException("refusing to replace " + path + ": it exists and is not a stale socket ("
                    + notSocket.getMessage() + ")", notSocket);
        }
        try {
            OwnedFd fd = unix.listen(path, mode);
            LOG.info("removed stale socket {}", path);
            return fd;
        } catch (RuntimeException second) {
            second.addSuppressed(first);
            throw new IllegalStateException("refusing to replace " + path + ": it exists and is not a stale socket", second);
        }
    }
}
