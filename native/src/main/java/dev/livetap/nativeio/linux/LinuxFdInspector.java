package dev.livetap.nativeio.linux;

import com.sun.jna.Memory;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import java.io.File;

/** fstat(2), kcmp(2), fcntl(2), pipe2(2) and /proc/self/fd. */
final class LinuxFdInspector implements FdInspector {
    /** This process: a JVM never forks without exec, so one getpid suffices (a sort asks kcmp thousands of times). */
    private static final long PID = ProcessHandle.current().pid();

    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFIFO = 0010000;
    static final int TUN_MAJOR = 10;
    static final int TUN_MINOR = 200;

    @Override
    public FdKind kind(OwnedFd fd) {
        // struct stat on x86_64: st_mode (u32) @24, st_rdev (u64) @40; 144 bytes in all.
        Memory st = Scratch.get().small;
        if (LinuxC.fstat(fd.fd(), st) != 0) {
            throw Errno.failure("fstat", "fd " + fd.number(), LinuxC.errno());
        }
        int type = st.getInt(24) & S_IFMT;
        switch (type) {
            case S_IFCHR: {
                long rdev = st.getLong(40);
                return major(rdev) == TUN_MAJOR && minor(rdev) == TUN_MINOR ? FdKind.TUN : FdKind.OTHER_CHAR_DEVICE;
            }
            case S_IFSOCK:
                return FdKind.SOCKET;
            case S_IFIFO:
                return FdKind.PIPE;
            case S_IFREG:
                return FdKind.REGULAR_FILE;
            case S_IFDIR:
                return FdKind.DIRECTORY;
            default:
                return FdKind.OTHER;
        }
    }

    /** glibc's gnu_dev_major. */
    static long major(long rdev) {
        return ((rdev >>> 8) & 0xfffL) | ((rdev >>> 32) & 0xfffff000L);
    }

    /** glibc's gnu_dev_minor. */
    static long minor(long rdev) {
        return (rdev & 0xffL) | ((rdev >>> 12) & 0xffffff00L);
    }

    @Override
    public int compareOpenFiles(OwnedFd a, OwnedFd b) {
        long r = LinuxC.syscall(LinuxC.SYS_KCMP, PID, PID, LinuxC.KCMP_FILE, a.fd(), b.fd());
        if (r < 0) {
            int errno = LinuxC.errno();
            if (errno == LinuxC.ENOSYS) {
                throw new NativeException.UnavailableException("kcmp(KCMP_FILE)", "kcmp(KCMP_FILE) on fds " + a.number()
                        + " and " + b.number() + " failed: this kernel is built without kcmp (CONFIG_KCMP) ("
                        + Errno.describe(errno) + ")");
            }
            throw Errno.failure("kcmp(KCMP_FILE)", "fds " + a.number() + " and " + b.number(), errno);
        }
        // 0 equal, 1 "less than", 2 "greater than"; 3 (ordering unavailable) is not returned for KCMP_FILE
        if (r == 0 || r == 1 || r == 2) {
            return r == 0 ? 0 : r == 1 ? -1 : 1;
        }
        throw new NativeException("kcmp(KCMP_FILE)", 0, "kcmp(KCMP_FILE) on fds " + a.number() + " and " + b.number()
                + " returned " + r + ": no order of open files on this kernel");
    }

    @Override
    public boolean isNonBlocking(OwnedFd fd) {
        return (getFlags(fd) & LinuxC.O_NONBLOCK) != 0;
    }

    @Override
    public void setNonBlocking(OwnedFd fd, boolean nonBlocking) {
        int flags = getFlags(fd);
        int wanted = nonBlocking ? flags | LinuxC.O_NONBLOCK : flags & ~LinuxC.O_NONBLOCK;
        if (wanted != flags && LinuxC.fcntl(fd.fd(), LinuxC.F_SETFL, wanted) != 0) {
            throw Errno.failure("fcntl(F_SETFL)", "fd " + fd.number(), LinuxC.errno());
        }
    }

    private static int getFlags(OwnedFd fd) {
        int flags = LinuxC.fcntl(fd.fd(), LinuxC.F_GETFL, 0);
        if (flags < 0) {
            throw Errno.failure("fcntl(F_GETFL)", "fd " + fd.number(), LinuxC.errno());
        }
        return flags;
    }

    @Override
    public int countProcessFds() {
        // Listing opens one directory fd of its own; it is counted every time, so counts compare.
        String[] entries = new File("/proc/self/fd").list();
        if (entries == null) {
            throw new NativeException.UnavailableException("opendir(/proc/self/fd)", "cannot list /proc/self/fd: is /proc mounted?");
        }
        return entries.length;
    }

    @Override
    public OwnedFd adopt(int fd) {
        if (fd < 0 || LinuxC.fcntl(fd, LinuxC.F_GETFL, 0) < 0) {
            throw Errno.failure("fcntl(F_GETFL)", "fd " + fd + " handed in to adopt", fd < 0 ? LinuxC.EBADF : LinuxC.errno());
        }
        return LinuxFdOps.adopt(fd);
    }

    @Override
    public OwnedFd[] pipe() {
        int[] fds = new int[2];
        if (LinuxC.pipe2(fds, LinuxC.O_CLOEXEC | LinuxC.O_NONBLOCK) != 0) {
            throw Errno.failure("pipe2(O_CLOEXEC|O_NONBLOCK)", "a new pipe", LinuxC.errno());
        }
        return new OwnedFd[] {LinuxFdOps.adopt(fds[0]), LinuxFdOps.adopt(fds[1])};
    }
}
