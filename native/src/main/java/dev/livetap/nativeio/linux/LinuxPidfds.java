package dev.livetap.nativeio.linux;

import com.sun.jna.Library;
import com.sun.jna.Native;
import dev.livetap.nativeio.Pidfds;

/** {@link Pidfds} on the Linux kernel: raw syscalls through JNA (glibc has no pidfd_getfd wrapper before 2.36). */
public final class LinuxPidfds implements Pidfds {
    private static final long SYS_PIDFD_OPEN = 434;
    private static final long SYS_PIDFD_GETFD = 438;
    private static final int SHUT_RDWR = 2;

    private interface C extends Library {
        long syscall(long number, Object... args);

        int shutdown(int fd, int how);

        int close(int fd);
    }

    private static final class Holder {
        static final C LIBC = Native.load("c", C.class);
    }

    private static final LinuxPidfds INSTANCE = new LinuxPidfds();

    private LinuxPidfds() {
    }

    public static Pidfds instance() {
        return INSTANCE;
    }

    @Override
    public void shutdown(long pid, int fd) {
        C libc = Holder.LIBC;
        int pidfd = (int) libc.syscall(SYS_PIDFD_OPEN, pid, 0L);
        if (pidfd < 0) {
            throw new IllegalStateException("pidfd_open(" + pid + ") failed: errno " + Native.getLastError());
        }
        try {
            int dup = (int) libc.syscall(SYS_PIDFD_GETFD, (long) pidfd, (long) fd, 0L);
            if (dup < 0) {
                throw new IllegalStateException("pidfd_getfd(" + pid + ", " + fd + ") failed: errno " + Native.getLastError());
            }
            try {
                if (libc.shutdown(dup, SHUT_RDWR) != 0) {
                    throw new IllegalStateException("shutdown failed: errno " + Native.getLastError());
                }
            } finally {
                libc.close(dup);
            }
        } finally {
            libc.close(pidfd);
        }
    }
}
