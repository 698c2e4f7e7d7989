package dev.livetap.testbed.chaos;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Drops a migration connection from outside: finds the target's accepted socket for the
 * migration path ({@code /proc/PID/net/unix}, state connected, then {@code /proc/PID/fd}), takes a
 * duplicate with {@code pidfd_getfd(2)} and calls {@code shutdown(SHUT_RDWR)} on it. The socket is
 * shared by both descriptors, so the target reads EOF and the source's next write or read fails,
 * as when the peer's end breaks. Needs Linux 5.6+ and ptrace rights (root).
 */
final class SocketDropper {
    private static final long SYS_PIDFD_OPEN = 434;
    private static final long SYS_PIDFD_GETFD = 438;
    private static final int SHUT_RDWR = 2;

    interface C extends Library {
        long syscall(long number, Object... args);

        int shutdown(int fd, int how);

        int close(int fd);
    }

    private static final C LIBC = Native.load("c", C.class);

    private SocketDropper() {
    }

    /** Whether {@code pid}'s network namespace lists a listening socket (flag __SO_ACCEPTCON) bound to {@code path}. */
    static boolean listening(long pid, Path path) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "net", "unix"))) {
            String[] f = line.trim().split("\\s+");
            // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening)
            if (f.length >= 8 && f[7].equals(path.toString()) && (Long.parseLong(f[3], 16) & 0x10000) != 0) {
                return true;
            }
        }
        return false;
    }

    /** The descriptor number in {@code pid} of its connected socket bound to {@code path}, if any. */
    static OptionalInt acceptedSocket(long pid, Path path) throws IOException {
        Set<String> inodes = new HashSet<>();
        for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(pid), "net", "unix"))) {
            String[] f = line.trim().split("\\s+");
            // Num RefCount Protocol Flags Type St Inode Path; St 03 = connected
            if (f.length >= 8 && f[5].equals("03") && f[7].equals(path.toString())) {
                inodes.add("socket:[" + f[6] + "]");
            }
        }
        if (inodes.isEmpty()) {
            return OptionalInt.empty();
        }
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid), "fd"))) {
            for (Path e : d) {
                try {
                    if (inodes.contains(Files.readSymbolicLink(e).toString())) {
                        return OptionalInt.of(Integer.parseInt(e.getFileName().toString()));
                    }
                } catch (IOException gone) {
                    // closed meanwhile
                }
            }
        }
        return OptionalInt.empty();
    }

    /** shutdown(SHUT_RDWR) on descriptor {@code fd} of process {@code pid}; false with the reason in the exception. */
    static void shutdown(long pid, int fd) {
        int pidfd = (int) LIBC.syscall(SYS_PIDFD_OPEN, pid, 0L);
        if (pidfd < 0) {
            throw new IllegalStateException("pidfd_open(" + pid + ") failed: errno " + Native.getLastError());
        }
        try {
            int dup = (int) LIBC.syscall(SYS_PIDFD_GETFD, (long) pidfd, (long) fd, 0L);
            if (dup < 0) {
                throw new IllegalStateException("pidfd_getfd(" + pid + ", " + fd + ") failed: errno " + Native.getLastError());
            }
            try {
                if (LIBC.shutdown(dup, SHUT_RDWR) != 0) {
                    throw new IllegalStateException("shutdown failed: errno " + Native.getLastError());
                }
            } finally {
                LIBC.close(dup);
            }
        } finally {
            LIBC.close(pidfd);
        }
    }
}
