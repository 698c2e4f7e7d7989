package dev.livetap.nativeio.linux;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.livetap.nativeio.FdsTruncatedException;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PathIdentity;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.UnixSockets;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * AF_UNIX stream sockets: socket(7), unix(7), sendmsg(2)/recvmsg(2) with SCM_RIGHTS, cmsg(3).
 * msghdr is 56 bytes: name@0, namelen@8, iov@16, iovlen@24, control@32, controllen@40, flags@48.
 */
final class LinuxUnixSockets implements UnixSockets {
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final int LISTEN_BACKLOG = 128;
    /** A path connect that finds the listener's backlog full (EAGAIN) is retried this long. */
    private static final long CONNECT_RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    @Override
    public OwnedFd listen(Path path, int mode) {
        String target = "socket path " + path;
        byte[] name = sunPath(path);
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            throw new NativeException("bind", LinuxC.EEXIST, "bind on " + target + " refused: the path already exists "
                    + "(listen replaces nothing; remove a stale socket with unlinkSocket first)");
        }
        OwnedFd fd = newSocket(target);
        boolean bound = false;
        try {
            Memory addr = Scratch.get().small;
            int len = writeSockaddr(addr, name);
            if (LinuxC.bind(fd.fd(), addr, len) != 0) {
                throw Errno.failure("bind", target, LinuxC.errno());
            }
            bound = true;
            // chmod before listen: nobody can connect while the mode is still the umask's.
            if (LinuxC.chmod(path.toString(), mode) != 0) {
                throw Errno.failure("chmod(0" + Integer.toOctalString(mode) + ")", target, LinuxC.errno());
            }
            if (LinuxC.listen(fd.fd(), LISTEN_BACKLOG) != 0) {
                throw Errno.failure("listen", target, LinuxC.errno());
            }
            return fd;
        } catch (RuntimeException e) {
            fd.close();
            if (bound) {
                LinuxC.unlink(path.toString());
            }
            throw e;
        }
    }

    @Override
    public OwnedFd accept(OwnedFd listener) {
        for (;;) {
            int fd = LinuxC.accept4(listener.fd(), null, null, LinuxC.SOCK_NONBLOCK | LinuxC.SOCK_CLOEXEC);
            if (fd >= 0) {
                return LinuxFdOps.adopt(fd);
            }
            int errno = LinuxC.errno();
            if (errno == LinuxC.EAGAIN) {
                return null;
            }
            if (errno != LinuxC.EINTR && errno != LinuxC.ECONNABORTED) {
                throw Errno.failure("accept4", "listening socket fd " + listener.number(), errno);
            }
        }
    }

    @Override
    public OwnedFd connect(Path path) {
        String target = "socket path " + path;
        byte[] name = sunPath(path);
        long deadline = System.nanoTime() + CONNECT_RETRY_NANOS;
        for (;;) {
            OwnedFd fd = newSocket(target);
            try {
                Memory addr = Scratch.get().small;
                int len = writeSockaddr(addr, name);
                if (LinuxC.connect(fd.fd(), addr, len) == 0) {
                    return fd;
                }
                int errno = LinuxC.errno();
                if (errno == LinuxC.EINPROGRESS || errno == LinuxC.EINTR) {
                    // Not expected for AF_UNIX, but a pending connect finishes or fails within the bound.
                    awaitConnected(fd, target);
                    return fd;
                }
                if (errno != LinuxC.EAGAIN) {
                    String why = switch (errno) {
                        case LinuxC.ENOENT -> "no socket at this path;";
                        case LinuxC.ECONNREFUSED -> "nobody is listening on this path (stale socket?);";
                        default -> null;
                    };
                    throw Errno.failure("connect", target, errno, why);
                }
                // EAGAIN on a path socket: the listener's backlog is full and nothing was connected.
                if (System.nanoTime() > deadline) {
                    throw Errno.failure("connect", target, errno,
                            "the listener's backlog stayed full for " + TimeUnit.NANOSECONDS.toMillis(CONNECT_RETRY_NANOS) + " ms;");
                }
            } catch (RuntimeException e) {
                fd.close();
                throw e;
            }
            fd.close();
            sleepMillis(1);
        }
    }

    private static void awaitConnected(OwnedFd fd, String target) {
        Memory pfd = new Memory(8);
        pfd.setInt(0, fd.fd());
        pfd.setShort(4, LinuxC.POLLOUT);
        pfd.setShort(6, (short) 0);
        int n = LinuxC.poll(pfd, 1, (int) TimeUnit.NANOSECONDS.toMillis(CONNECT_RETRY_NANOS));
        if (n == 0) {
            throw new NativeException("connect", LinuxC.EINPROGRESS, "connect on " + target + " did not complete within "
                    + TimeUnit.NANOSECONDS.toMillis(CONNECT_RETRY_NANOS) + " ms");
        }
        if (n < 0) {
            throw Errno.failure("poll(POLLOUT) after connect", target, LinuxC.errno());
        }
        Scratch s = Scratch.get();
        s.smallLen.setInt(0, 4);
        if (LinuxC.getsockopt(fd.fd(), LinuxC.SOL_SOCKET, LinuxC.SO_ERROR, s.small, s.smallLen) != 0) {
            throw Errno.failure("getsockopt(SO_ERROR)", target, LinuxC.errno());
        }
        int error = s.small.getInt(0);
        if (error != 0) {
            throw Errno.failure("connect", target, error);
        }
    }

    @Override
    public OwnedFd[] socketPair() {
        int[] sv = new int[2];
        if (LinuxC.socketpair(LinuxC.AF_UNIX, LinuxC.SOCK_STREAM | LinuxC.SOCK_NONBLOCK | LinuxC.SOCK_CLOEXEC, 0, sv) != 0) {
            throw Errno.failure("socketpair", "AF_UNIX SOCK_STREAM", LinuxC.errno());
        }
        return new OwnedFd[] {LinuxFdOps.adopt(sv[0]), LinuxFdOps.adopt(sv[1])};
    }

    @Override
    public PeerCredentials peerCredentials(OwnedFd socket) {
        Scratch s = Scratch.get();
        s.smallLen.setInt(0, 12);
        if (LinuxC.getsockopt(socket.fd(), LinuxC.SOL_SOCKET, LinuxC.SO_PEERCRED, s.small, s.smallLen) != 0) {
            throw Errno.failure("getsockopt(SO_PEERCRED)", "socket fd " + socket.number(), LinuxC.errno());
        }
        return new PeerCredentials(s.small.getInt(0), s.small.getInt(4), s.small.getInt(8));
    }

    @Override
    public boolean isUnixStreamSocket(OwnedFd fd) {
        Scratch s = Scratch.get();
        s.smallLen.setInt(0, 4);
        if (LinuxC.getsockopt(fd.fd(), LinuxC.SOL_SOCKET, LinuxC.SO_DOMAIN, s.small, s.smallLen) != 0) {
            return false; // ENOTSOCK: not a socket at all
        }
        if (s.small.getInt(0) != LinuxC.AF_UNIX) {
            return false;
        }
        s.smallLen.setInt(0, 4);
        if (LinuxC.getsockopt(fd.fd(), LinuxC.SOL_SOCKET, LinuxC.SO_TYPE, s.small, s.smallLen) != 0) {
            return false;
        }
        return s.small.getInt(0) == LinuxC.SOCK_STREAM;
    }

    @Override
    public int sendmsg(OwnedFd socket, ByteBuffer data, List<OwnedFd> fds) {
        int nfds = fds.size();
        if (nfds > SCM_MAX_FD) {
            // The kernel answers EINVAL; say so without a system call, as the in-memory OS does.
            throw new NativeException("sendmsg", LinuxC.EINVAL, "sendmsg: at most " + SCM_MAX_FD
                    + " fds per message (SCM_MAX_FD), got " + nfds + ": split the batch over several messages (EINVAL)");
        }
        int remaining = data.remaining();
        if (remaining == 0) {
            throw new IllegalArgumentException("sendmsg needs at least one data byte: fds ride on the first byte, "
                    + "and an empty stream write sends nothing");
        }
        Scratch s = Scratch.get();
        int length;
        long address;
        if (data.isDirect()) {
            length = remaining;
            address = Pointer.nativeValue(Native.getDirectBufferPointer(data)) + data.position();
        } else {
            length = Math.min(remaining, Scratch.DATA_BYTES);
            s.data.write(0, data.array(), data.arrayOffset() + data.position(), length);
            address = s.dataAddress;
        }
        s.iov.setLong(0, address);
        s.iov.setLong(8, length);
        Memory msg = s.msg;
        msg.setLong(0, 0);
        msg.setLong(8, 0);
        msg.setLong(16, s.iovAddress);
        msg.setLong(24, 1);
        if (nfds > 0) {
            Memory control = s.control;
            control.setLong(0, LinuxC.cmsgLen(4 * nfds));
            control.setInt(8, LinuxC.SOL_SOCKET);
            control.setInt(12, LinuxC.SCM_RIGHTS);
            for (int i = 0; i < nfds; i++) {
                control.setInt(16 + 4L * i, fds.get(i).fd());
            }
            msg.setLong(32, s.controlAddress);
            msg.setLong(40, LinuxC.cmsgSpace(4 * nfds));
        } else {
            msg.setLong(32, 0);
            msg.setLong(40, 0);
        }
        msg.setInt(48, 0);
        int fd = socket.fd();
        for (;;) {
            long n = LinuxC.sendmsg(fd, msg, LinuxC.MSG_NOSIGNAL | LinuxC.MSG_DONTWAIT);
            if (n >= 0) {
                data.position(data.position() + (int) n);
                return (int) n;
            }
            int errno = LinuxC.errno();
            if (errno == LinuxC.EAGAIN) {
                return 0;
            }
            if (errno != LinuxC.EINTR) {
                String why = switch (errno) {
                    case LinuxC.EPIPE, LinuxC.ECONNRESET -> "the peer closed the connection;";
                    case LinuxC.ENOTCONN -> "the socket is not connected;";
                    case LinuxC.EBADF -> "one of the " + nfds + " attached fds or the socket is not open;";
                    default -> null;
                };
                throw Errno.failure("sendmsg", "socket fd " + fd + " (" + length + " bytes, " + nfds + " fds)", errno, why);
            }
        }
    }

    @Override
    public int recvmsg(OwnedFd socket, ByteBuffer into, List<OwnedFd> fdsOut, int maxFds) {
        if (maxFds < 0) {
            throw new IllegalArgumentException("maxFds must be >= 0: " + maxFds);
        }
        int room = Math.min(maxFds, SCM_MAX_FD); // one recvmsg never returns more than one sendmsg's fds
        int remaining = into.remaining();
        if (remaining == 0) {
            throw new IllegalArgumentException("recvmsg needs room for at least one byte: a zero-length read cannot tell EOF");
        }
        Scratch s = Scratch.get();
        int length;
        long address;
        boolean direct = into.isDirect();
        if (direct) {
            length = remaining;
            address = Pointer.nativeValue(Native.getDirectBufferPointer(into)) + into.position();
        } else {
            length = Math.min(remaining, Scratch.DATA_BYTES);
            address = s.dataAddress;
        }
        s.iov.setLong(0, address);
        s.iov.setLong(8, length);
        Memory msg = s.msg;
        msg.setLong(0, 0);
        msg.setLong(8, 0);
        msg.setLong(16, s.iovAddress);
        msg.setLong(24, 1);
        msg.setLong(32, room == 0 ? 0 : s.controlAddress);
        msg.setLong(40, room == 0 ? 0 : LinuxC.cmsgSpace(4 * room));
        msg.setInt(48, 0);
        int fd = socket.fd();
        long n;
        for (;;) {
            n = LinuxC.recvmsg(fd, msg, LinuxC.MSG_CMSG_CLOEXEC | LinuxC.MSG_DONTWAIT);
            if (n >= 0) {
                break;
            }
            int errno = LinuxC.errno();
            if (errno == LinuxC.EAGAIN) {
                return 0;
            }
            if (errno != LinuxC.EINTR) {
                String why = errno == LinuxC.ECONNRESET ? "the peer reset the connection;" : null;
                throw Errno.failure("recvmsg", "socket fd " + fd, errno, why);
            }
        }
        int flags = msg.getInt(48);
        List<OwnedFd> arrived = room == 0 ? List.of() : collectFds(s.control, msg.getLong(40));
        if (n > 0) {
            if (!direct) {
                s.data.read(0, into.array(), into.arrayOffset() + into.position(), (int) n);
            }
            into.position(into.position() + (int) n);
        }
        if ((flags & LinuxC.MSG_CTRUNC) != 0) {
            int count = arrived.size();
            OwnedFd.closeAll(arrived);
            throw new FdsTruncatedException("recvmsg on socket fd " + fd + ": control data truncated (MSG_CTRUNC): "
                    + "the sender attached more fds than the " + maxFds + " this receiver allowed, or this process "
                    + "hit its descriptor limit (EMFILE); the " + count + " fds that arrived were closed, the kernel "
                    + "dropped the rest, and the " + n + " data bytes were consumed", (int) n);
        }
        if (n == 0) {
            OwnedFd.closeAll(arrived); // never expected with zero bytes; closed rather than leaked
            return -1;
        }
        if (!arrived.isEmpty()) {
            try {
                fdsOut.addAll(arrived);
            } catch (RuntimeException e) {
                OwnedFd.closeAll(arrived);
                throw e;
            }
        }
        return (int) n;
    }

    /** Walks every cmsghdr (16 B header, size_t length) and adopts SCM_RIGHTS fds; other types are skipped. */
    private static List<OwnedFd> collectFds(Memory control, long controlLength) {
        List<OwnedFd> fds = null;
        long offset = 0;
        long end = Math.min(controlLength, control.size());
        while (offset + 16 <= end) {
            long len = control.getLong(offset);
            if (len < 16 || offset + len > end) {
                break;
            }
            int level = control.getInt(offset + 8);
            int type = control.getInt(offset + 12);
            if (level == LinuxC.SOL_SOCKET && type == LinuxC.SCM_RIGHTS) {
                int count = (int) ((len - 16) / 4);
                if (fds == null) {
                    fds = new ArrayList<>(count);
                }
                for (int i = 0; i < count; i++) {
                    int received = control.getInt(offset + 16 + 4L * i);
                    if (received >= 0) {
                        fds.add(LinuxFdOps.adopt(received));
                    }
                }
            }
            offset += (len + 7) & ~7L;
        }
        return fds == null ? List.of() : fds;
    }

    @Override
    public void unlinkSocket(Path path) {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return;
        } catch (IOException e) {
            throw new UncheckedIOException("stat " + path + " before unlinking it", e);
        }
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IllegalArgumentException("refusing to unlink " + path + ": it is not a socket (mode 0"
                    + Integer.toOctalString(mode) + ")");
        }
        if (LinuxC.unlink(path.toString()) != 0) {
            int errno = LinuxC.errno();
            if (errno != LinuxC.ENOENT) {
                throw Errno.failure("unlink", "socket path " + path, errno);
            }
        }
    }

    @Override
    public Optional<PathIdentity> identity(Path path) {
        try {
            Map<String, Object> a = Files.readAttributes(path, "unix:dev,ino", LinkOption.NOFOLLOW_LINKS);
            return Optional.of(new PathIdentity((Long) a.get("dev"), (Long) a.get("ino")));
        } catch (java.nio.file.NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException("lstat " + path, e);
        }
    }

    @Override
    public boolean unlinkIfSame(Path path, PathIdentity expected) {
        // the lock beside the path keeps anyone following the same rule from rebinding it between lstat and unlink
        if (!identity(path).equals(Optional.of(expected))) {
            return false;
        }
        if (LinuxC.unlink(path.toString()) != 0) {
            int errno = LinuxC.errno();
            if (errno == LinuxC.ENOENT) {
                return false;
            }
            throw Errno.failure("unlink", "path " + path, errno);
        }
        return true;
    }

    /** Attempts: a lock file unlinked by its holder between our open and flock is retried a few times. */
    private static final int LOCK_ATTEMPTS = 8;

    @Override
    public Optional<OwnedFd> tryLock(Path lockFile) {
        String target = "lock file " + lockFile;
        for (int attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
            int raw = LinuxC.open(lockFile.toString(), LinuxC.O_RDWR | LinuxC.O_CREAT | LinuxC.O_NOFOLLOW | LinuxC.O_CLOEXEC, 0600);
            if (raw < 0) {
                throw Errno.failure("open", target, LinuxC.errno());
            }
            OwnedFd fd = LinuxFdOps.adopt(raw);
            try {
                if (LinuxC.flock(fd.fd(), LinuxC.LOCK_EX | LinuxC.LOCK_NB) != 0) {
                    int errno = LinuxC.errno();
                    if (errno == LinuxC.EAGAIN) {
                        fd.close();
                        return Optional.empty();
                    }
                    throw Errno.failure("flock(LOCK_EX|LOCK_NB)", target, errno);
                }
                Memory st = Scratch.get().small;
                st.clear(144);
                if (LinuxC.fstat(fd.fd(), st) != 0) {
                    throw Errno.failure("fstat", target, LinuxC.errno());
                }
                // struct stat on x86_64: st_dev @0, st_ino @8
                PathIdentity locked = new PathIdentity(st.getLong(0), st.getLong(8));
                if (identity(lockFile).equals(Optional.of(locked))) {
                    return Optional.of(fd);
                }
                fd.close(); // the file we locked is no longer at the path: lock the one that is
            } catch (RuntimeException e) {
                fd.close();
                throw e;
            }
        }
        throw new NativeException("flock", LinuxC.EAGAIN, target + " was replaced " + LOCK_ATTEMPTS
                + " times while locking it: another process keeps recreating it");
    }

    private static OwnedFd newSocket(String target) {
        int fd = LinuxC.socket(LinuxC.AF_UNIX, LinuxC.SOCK_STREAM | LinuxC.SOCK_NONBLOCK | LinuxC.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw Errno.failure("socket(AF_UNIX, SOCK_STREAM)", target, LinuxC.errno());
        }
        return LinuxFdOps.adopt(fd);
    }

    private static byte[] sunPath(Path path) {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length == 0 || name.length >= LinuxC.SUN_PATH_BYTES) {
            throw new IllegalArgumentException("socket path " + path + " is " + name.length + " bytes; sun_path holds at most "
                    + (LinuxC.SUN_PATH_BYTES - 1) + " bytes plus a NUL: use a shorter directory");
        }
        return name;
    }

    /** sockaddr_un: sa_family_t (u16) @0, sun_path @2, NUL-terminated; returns the length to pass. */
    private static int writeSockaddr(Memory addr, byte[] name) {
        addr.clear(110);
        addr.setShort(0, (short) LinuxC.AF_UNIX);
        addr.write(2, name, 0, name.length);
        return 2 + name.length + 1;
    }

    private static void sleepMillis(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NativeException("connect", LinuxC.EINTR, "connect interrupted while the listener's backlog was full");
        }
    }
}
