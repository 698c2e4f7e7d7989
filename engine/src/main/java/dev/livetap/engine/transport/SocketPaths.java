package dev.livetap.engine.transport;

import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.UnixSockets;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binding a listening socket to a path that may hold a leftover: a stale socket (nobody accepts
 * on it: connect is refused) is replaced; a live listener or anything that is not a socket is
 * left alone and the bind fails. Shared by the QMP server and the migration transport.
 */
public final class SocketPaths {
    private static final Logger LOG = LoggerFactory.getLogger(SocketPaths.class);
    static final int ENOENT = 2;
    static final int ECONNREFUSED = 111;

    private SocketPaths() {
    }

    /**
     * Whether the kernel lists a listening AF_UNIX socket bound to {@code path}
     * (/proc/net/unix, flag __SO_ACCEPTCON); empty when the path is not a socket on this host's
     * file system (e.g. the in-memory OS) or the table cannot be read.
     */
    static java.util.Optional<Boolean> listeningInKernelTable(Path path) {
        try {
            if (!java.nio.file.Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                return java.util.Optional.empty();
            }
            Object mode = java.nio.file.Files.getAttribute(path, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            if (((Integer) mode & 0170000) != 0140000) {
                return java.util.Optional.empty(); // not a socket: the replace step refuses it
            }
            String abs = path.toAbsolutePath().normalize().toString();
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/net/unix"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && (f[7].equals(abs) || f[7].equals(path.toString()))
                        && (Long.parseLong(f[3], 16) & 0x10000) != 0) {
                    return java.util.Optional.of(true);
                }
            }
            return java.util.Optional.of(false);
        } catch (java.io.IOException | RuntimeException e) {
            return java.util.Optional.empty();
        }
    }

    /** {@code unix.listen(path, mode)}, replacing only a stale socket at {@code path}. */
    public static OwnedFd listenReplacingStale(UnixSockets unix, Path path, int mode) {
        try {
            return unix.listen(path, mode);
        } catch (RuntimeException first) {
            java.util.Optional<Boolean> listening = listeningInKernelTable(path);
            if (listening.isPresent()) {
                // decided without connecting: a probe connection would be accepted as a peer by a live listener
                if (listening.get()) {
                    throw new IllegalStateException("refusing to listen on " + path
                            + ": a process is already listening there", first);
                }
                return replace(unix, path, mode, first);
            }
            OwnedFd probe;
            try {
                probe = unix.connect(path);
            } catch (NativeException refused) {
                if (refused.errno() == ENOENT) {
                    throw first; // nothing at the path: listen failed for another reason
                }
                if (refused.errno() != ECONNREFUSED) {
                    throw new IllegalStateException("cannot tell whether " + path + " has a live listener: "
                            + refused.getMessage(), first);
                }
                probe = null;
            }
            if (probe != null) {
                probe.close();
                throw new IllegalStateException("refusing to listen on " + path + ": a process is already listening there",
                        first);
            }
            return replace(unix, path, mode, first);
        }
    }

    private static OwnedFd replace(UnixSockets unix, Path path, int mode, RuntimeException first) {
        {
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
                throw new IllegalStateException("refusing to replace " + path + ": it exists and is not a stale socket",
                        second);
            }
        }
    }
}
