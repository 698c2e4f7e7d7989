package dev.livetap.nativeio.linux;

import dev.livetap.nativeio.FdOps;
import dev.livetap.nativeio.OwnedFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** close(2) and fcntl(F_DUPFD_CLOEXEC) for kernel descriptors. */
final class LinuxFdOps implements FdOps {
    static final LinuxFdOps INSTANCE = new LinuxFdOps();
    private static final Logger LOG = LoggerFactory.getLogger(LinuxFdOps.class);

    private LinuxFdOps() {
    }

    static OwnedFd adopt(int fd) {
        return OwnedFd.adopt(fd, INSTANCE);
    }

    @Override
    public void close(int fd) {
        if (LinuxC.close(fd) == 0) {
            return;
        }
        int errno = LinuxC.errno();
        if (errno == LinuxC.EBADF) {
            // Somebody closed this number behind its owner's back: the number may already belong to another file.
            LOG.error("close({}) failed with {}: the descriptor was already closed - a double-close bug",
                    fd, Errno.describe(errno), new IllegalStateException("double close of fd " + fd));
        } else if (errno != LinuxC.EINTR) {
            // Linux releases the descriptor even when close reports EINTR or EIO; never retry.
            LOG.warn("close({}) reported {}; the descriptor is released anyway", fd, Errno.describe(errno));
        }
    }

    @Override
    public int dup(int fd) {
        int copy = LinuxC.fcntl(fd, LinuxC.F_DUPFD_CLOEXEC, 0);
        if (copy < 0) {
            throw Errno.failure("fcntl(F_DUPFD_CLOEXEC)", "fd " + fd, LinuxC.errno());
        }
        return copy;
    }
}
