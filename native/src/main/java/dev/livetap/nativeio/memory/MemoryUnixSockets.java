package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.FdsTruncatedException;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PathIdentity;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.UnixSockets;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * AF_UNIX stream sockets modelled on Linux's unix_stream_sendmsg / unix_stream_read_generic:
 * each sendmsg is one segment whose fds ride on its first byte; a recvmsg copies bytes across
 * segments, and when it reads from a segment that carries fds it takes them and stops after that
 * segment. So a fd-less message's bytes and the next fd-carrying message merge into one recvmsg
 * (the fds then belong to that recvmsg), but two fd-carrying messages never do.
 */
final class MemoryUnixSockets implements UnixSockets {
    private final InMemoryOs os;

    MemoryUnixSockets(InMemoryOs os) {
        this.os = os;
    }

    private InMemoryKernel kernel() {
        return os.kernel();
    }

    @Override
    public OwnedFd listen(Path path, int mode) {
        synchronized (os.lock()) {
            if (kernel().paths.containsKey(path)) {
                throw new NativeException("bind", Errno.EADDRINUSE, "bind(" + path + "): address already in use (EADDRINUSE)");
            }
            OpenFile.Listener l = new OpenFile.Listener(kernel(), path, os);
            kernel().paths.put(path, l);
            return os.install(l, "listen(" + path + ")");
        }
    }

    @Override
    public OwnedFd accept(OwnedFd listener) {
        synchronized (os.lock()) {
            OpenFile f = os.fileOf(listener, "accept4");
            if (!(f instanceof OpenFile.Listener l)) {
                throw new NativeException("accept4", Errno.EINVAL, "accept4 on fd " + listener.number() + ": " + f
                        + " is not listening (EINVAL)");
            }
            OpenFile.SocketEnd end = l.backlog.poll();
            if (end == null) {
                return null;
            }
            end.peer.peerCreds = os.credentials();
            OwnedFd fd = os.install(end, "accept4(" + l.path + ")");
            kernel().unref(end); // the backlog's reference becomes the table's
            return fd;
        }
    }

    @Override
    public OwnedFd connect(Path path) {
        synchronized (os.lock()) {
            OpenFile.Listener l = kernel().paths.get(path);
            if (l == null) {
                throw new NativeException("connect", Errno.ENOENT, "connect(" + path + "): no such file or directory (ENOENT)");
            }
            if (l.released) {
                throw new NativeException("connect", Errno.ECONNREFUSED, "connect(" + path
                        + "): connection refused (ECONNREFUSED): the listener is closed");
            }
            OpenFile.SocketEnd[] pair = kernel().connectedPair(os.credentials(), l.owner.credentials());
            kernel().ref(pair[1]);
            l.backlog.add(pair[1]);
            return os.install(pair[0], "connect(" + path + ")");
        }
    }

    @Override
    public OwnedFd[] socketPair() {
        synchronized (os.lock()) {
            OpenFile.SocketEnd[] pair = kernel().connectedPair(os.credentials(), os.credentials());
            return new OwnedFd[] {os.install(pair[0], "socketPair"), os.install(pair[1], "socketPair")};
        }
    }

    @Override
    public PeerCredentials peerCredentials(OwnedFd socket) {
        synchronized (os.lock()) {
            return InMemoryOs.socketOf(socket, "getsockopt(SO_PEERCRED)").peerCreds;
        }
    }

    /** Every in-memory socket is an AF_UNIX stream socket. */
    @Override
    public boolean isUnixStreamSocket(OwnedFd fd) {
        synchronized (os.lock()) {
            try {
                InMemoryOs.socketOf(fd, "getsockopt(SO_DOMAIN)");
                return true;
            } catch (RuntimeException notASocket) {
                return false;
            }
        }
    }

    @Override
    public int sendmsg(OwnedFd socket, ByteBuffer data, List<OwnedFd> fds) {
        synchronized (os.lock()) {
            OpenFile.SocketEnd end = InMemoryOs.socketOf(socket, "sendmsg");
            if (fds.size() > SCM_MAX_FD) {
                throw new NativeException("sendmsg", Errno.EINVAL, "sendmsg on fd " + socket.number() + ": " + fds.size()
                        + " fds exceed SCM_MAX_FD " + SCM_MAX_FD + " per message (EINVAL)");
            }
            if (!fds.isEmpty() && !data.hasRemaining()) {
                throw new IllegalArgumentException("sendmsg on fd " + socket.number()
                        + ": fds need at least one data byte to ride on a stream socket");
            }
            if (end.peerGone || end.peer == null || end.peer.released) {
                throw new NativeException("sendmsg", Errno.EPIPE, "sendmsg on fd " + socket.number()
                        + ": the peer closed the connection (EPIPE)");
            }
            List<OpenFile> files = new ArrayList<>(fds.size());
            for (OwnedFd fd : fds) {
                files.add(os.fileOf(fd, "sendmsg(SCM_RIGHTS)"));
            }
            OpenFile.SocketEnd peer = end.peer;
            int space = peer.capacity - peer.inboundBytes;
            int n = Math.min(space, data.remaining());
            if (n <= 0) {
                return 0;
            }
            byte[] bytes = new byte[n];
            data.get(bytes);
            for (OpenFile f : files) {
                kernel().ref(f);
            }
            peer.inbound.add(new OpenFile.Segment(bytes, files.isEmpty() ? null : files));
            peer.inboundBytes += n;
            return n;
        }
    }

    @Override
    public int recvmsg(OwnedFd socket, ByteBuffer into, List<OwnedFd> fdsOut, int maxFds) {
        synchronized (os.lock()) {
            OpenFile.SocketEnd end = InMemoryOs.socketOf(socket, "recvmsg");
            if (!into.hasRemaining()) {
                throw new IllegalArgumentException("recvmsg on fd " + socket.number() + " needs room for one byte at least");
            }
            if (end.inbound.isEmpty()) {
                if (end.pendingError != 0) {
                    int err = end.pendingError;
                    end.pendingError = 0;
                    throw new NativeException("recvmsg", err, "recvmsg on fd " + socket.number()
                            + ": connection reset by peer (ECONNRESET): it closed with unread data or the connection dropped");
                }
                return end.peerGone ? -1 : 0;
            }
            int limit = into.remaining();
            int cap = kernel().faults().maxBytesPerRecvmsg();
            if (cap > 0) {
                limit = Math.min(limit, cap);
            }
            int copied = 0;
            List<OpenFile> taken = null;
            while (copied < limit && !end.inbound.isEmpty()) {
                OpenFile.Segment s = end.inbound.peek();
                if (s.fds != null) {
                    taken = s.fds;
                    s.fds = null;
                }
                int chunk = Math.min(s.remaining(), limit - copied);
                into.put(s.data, s.pos, chunk);
                s.pos += chunk;
                copied += chunk;
                if (s.remaining() > 0) {
                    break;
                }
                end.inbound.poll();
                if (taken != null) {
                    break;
                }
            }
            end.inboundBytes -= copied;
            if (taken != null) {
                deliverFds(socket, end, taken, fdsOut, maxFds, copied);
            }
            return copied;
        }
    }

    /** scm_detach_fds: installs what fits; on truncation closes even those and reports MSG_CTRUNC. */
    private void deliverFds(OwnedFd socket, OpenFile.SocketEnd end, List<OpenFile> taken, List<OwnedFd> fdsOut, int maxFds,
            int copied) {
        boolean emfile = end.truncateNextFds;
        end.truncateNextFds = false;
        int room = emfile ? 0 : Math.max(0, maxFds);
        List<OwnedFd> installed = new ArrayList<>();
        for (int i = 0; i < taken.size(); i++) {
            if (i < room) {
                installed.add(os.installReceived(taken.get(i)));
            } else {
                kernel().unref(taken.get(i));
            }
        }
        if (taken.size() > room) {
            OwnedFd.closeAll(installed);
            String why = emfile ? "the process has no free descriptors (EMFILE)"
                    : "room for " + maxFds;
            throw new FdsTruncatedException("recvmsg on fd " + socket.number() + ": MSG_CTRUNC: " + taken.size()
                    + " fds arrived with " + why + "; the kernel dropped the surplus and the "
                    + installed.size() + " installed were closed", copied);
        }
        fdsOut.addAll(installed);
    }

    @Override
    public void unlinkSocket(Path path) {
        synchronized (os.lock()) {
            kernel().paths.remove(path);
        }
    }

    /** The in-memory file system has one device; inodes are the kernel's file ids. */
    private static final long DEVICE = 1;

    @Override
    public Optional<PathIdentity> identity(Path path) {
        synchronized (os.lock()) {
            OpenFile.Listener l = kernel().paths.get(path);
            if (l != null) {
                return Optional.of(new PathIdentity(DEVICE, l.id));
            }
            OpenFile.LockFileInode f = kernel().lockFiles.get(path);
            return f == null ? Optional.empty() : Optional.of(new PathIdentity(DEVICE, f.inode));
        }
    }

    @Override
    public boolean unlinkIfSame(Path path, PathIdentity expected) {
        synchronized (os.lock()) {
            if (!identity(path).equals(Optional.of(expected))) {
                return false;
            }
            if (kernel().paths.remove(path) == null) {
                kernel().lockFiles.remove(path);
            }
            return true;
        }
    }

    @Override
    public Optional<OwnedFd> tryLock(Path lockFile) {
        synchronized (os.lock()) {
            if (kernel().paths.containsKey(lockFile)) {
                throw new NativeException("open", Errno.ENXIO, "open(" + lockFile + "): it is a socket (ENXIO)");
            }
            OpenFile.LockFileInode f = kernel().lockFiles.computeIfAbsent(lockFile,
                    p -> new OpenFile.LockFileInode(p, kernel().nextFileId()));
            if (f.holder != null) {
                return Optional.empty();
            }
            OpenFile.LockHandle h = new OpenFile.LockHandle(kernel(), f);
            f.holder = h;
            return Optional.of(os.install(h, "flock(" + lockFile + ")"));
        }
    }
}
