package dev.livetap.testbed.chaos;

import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import dev.livetap.nativeio.Pidfds;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import dev.livetap.nativeio.linux.LinuxPidfds;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import java.io.IOException;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import java.nio.file.Path;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import java.util.HashSet;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import java.util.OptionalInt;
import dev.livetap.testbed.ProcessCensus;
import java.util.List;
import java.util.Set;

/**
 * Drops a migration connection from outside: finds the target's accepted socket for the
 * migration path ({@code /proc/PID/net/unix}, state connected, then {@code /proc/PID/fd}), takes a
 * duplicate with {@code pidfd_getfd(2)} and calls {@code shutdown(SHUT_RDWR)} on it. The socket is
 * shared by both descriptors, so the target reads EOF and the source's next write or read fails,
 * as when the peer's end breaks. Needs Linux 5.6+ and ptrace rights (root).
 */
final class SocketDropper {
    private SocketDropper() {
    }

    /** Whether {@code pid}'s network namespace lists a listening socket (flag __SO_ACCEPTCON) bound to {@code path}. */
    static boolean listening(long pid, Path path) throws IOException {
        for (String[] f : ProcessCensus.unixSockets(pid)) {
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
        for (String[] f : ProcessCensus.unixSockets(pid)) {
            // Num RefCount Protocol Flags Type St Inode Path; St 03 = connected
            if (f.length >= 8 && f[5].equals("03") && f[7].equals(path.toString())) {
                inodes.add("socket:[" + f[6] + "]");
            }
        }
        if (inodes.isEmpty()) {
            return OptionalInt.empty();
        }
        List<ProcessCensus.Fd> fds = ProcessCensus.fds(pid).orElseThrow(() -> new IOException("process " + pid + " is gone"));
        return fds.stream().filter(fd -> inodes.contains(fd.target())).mapToInt(ProcessCensus.Fd::number).findFirst();
    }

    /** shutdown(SHUT_RDWR) on descriptor {@code fd} of process {@code pid} (native's {@link Pidfds}). */
    static void shutdown(long pid, int fd) {
        LinuxPidfds.instance().shutdown(pid, fd);
    }
}
