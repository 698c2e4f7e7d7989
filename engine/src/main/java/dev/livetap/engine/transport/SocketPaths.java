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

    /** {@code unix.listen(path, mode)}, replacing only a stale socket at {@code path}. */
    public static OwnedFd listenReplacingStale(UnixSockets unix, Path path, int mode) {
        try {
            return unix.listen(path, mode);
        } catch (RuntimeException first) {
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
            unix.unlinkSocket(path); // removes sockets only
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
