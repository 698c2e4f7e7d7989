package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.PeerCredentials;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;

/**
 * A kernel "struct file": what descriptors (in any process's table) and fds in flight refer to.
 * Reference-counted; released when the last reference goes. All access holds the kernel lock.
 */
abstract class OpenFile {
    final long id;
    final FdKind kind;
    int refs;
    boolean nonBlocking = true;

    OpenFile(InMemoryKernel kernel, FdKind kind) {
        this.id = kernel.nextFileId();
        this.kind = kind;
    }

    /** The last reference is gone. */
    abstract void release(InMemoryKernel kernel);

    abstract String describe();

    /** Readiness the reactor reports (READ / WRITE / HANGUP bits), before masking with interest. */
    abstract int readiness();

    @Override
    public String toString() {
        return describe() + "#" + id;
    }

    /** Bytes of one sendmsg, with the fds it carried (null when none, or already taken by a recvmsg). */
    static final class Segment {
        final byte[] data;
        int pos;
        List<OpenFile> fds;

        Segment(byte[] data, List<OpenFile> fds) {
            this.data = data;
            this.fds = fds;
        }

        int remaining() {
            return data.length - pos;
        }
    }

    /** One end of a connected AF_UNIX stream socket. */
    static final class SocketEnd extends OpenFile {
        SocketEnd peer;
        /** What the peer sent to this end, not yet read. */
        final ArrayDeque<Segment> inbound = new ArrayDeque<>();
        int inboundBytes;
        /** Receive buffer size: the peer's sendmsg would block beyond it. */
        int capacity;
        /** The peer end was released (or the connection dropped): EOF after the inbound bytes. */
        boolean peerGone;
        /** A pending socket error (ECONNRESET), reported once the inbound bytes are read. */
        int pendingError;
        /** Credentials of the process that created the peer end (SO_PEERCRED). */
        PeerCredentials peerCreds;
        boolean released;
        /** Fault: the next recvmsg bringing fds truncates them as EMFILE would. */
        boolean truncateNextFds;

        SocketEnd(InMemoryKernel kernel, int capacity) {
            super(kernel, FdKind.SOCKET);
            this.capacity = capacity;
        }

        @Override
        void release(InMemoryKernel kernel) {
            released = true;
            boolean unread = !inbound.isEmpty();
            for (Segment s : inbound) {
                kernel.unrefAll(s.fds);
            }
            inbound.clear();
            inboundBytes = 0;
            if (peer != null && !peer.released) {
                peer.peerGone = true;
                if (unread) {
                    peer.pendingError = Errno.ECONNRESET;
                }
            }
        }

        @Override
        String describe() {
            return "unix stream socket";
        }

        @Override
        int readiness() {
            int ops = 0;
            if (!inbound.isEmpty() || peerGone || pendingError != 0) {
                ops |= dev.livetap.nativeio.Reactor.READ;
            }
            if (peerGone || peer == null || peer.capacity - peer.inboundBytes > 0) {
                ops |= dev.livetap.nativeio.Reactor.WRITE;
            }
            if (peerGone) {
                ops |= dev.livetap.nativeio.Reactor.HANGUP;
            }
            return ops;
        }
    }

    /** A listening AF_UNIX socket bound to a path. */
    static final class Listener extends OpenFile {
        final Path path;
        final ArrayDeque<SocketEnd> backlog = new ArrayDeque<>();
        final InMemoryOs owner;
        boolean released;

        Listener(InMemoryKernel kernel, Path path, InMemoryOs owner) {
            super(kernel, FdKind.SOCKET);
            this.path = path;
            this.owner = owner;
        }

        @Override
        void release(InMemoryKernel kernel) {
            released = true;
            for (SocketEnd pending : backlog) {
                kernel.unref(pending);
            }
            backlog.clear();
        }

        @Override
        String describe() {
            return "unix listener " + path;
        }

        @Override
        int readiness() {
            return backlog.isEmpty() ? 0 : dev.livetap.nativeio.Reactor.READ;
        }
    }

    /** One end of a pipe; ends are not readable or writable through the Os interfaces. */
    static final class PipeEnd extends OpenFile {
        final boolean readEnd;

        PipeEnd(InMemoryKernel kernel, boolean readEnd) {
            super(kernel, FdKind.PIPE);
            this.readEnd = readEnd;
        }

        @Override
        void release(InMemoryKernel kernel) {
        }

        @Override
        String describe() {
            return readEnd ? "pipe read end" : "pipe write end";
        }

        @Override
        int readiness() {
            return readEnd ? 0 : dev.livetap.nativeio.Reactor.WRITE;
        }
    }

    /** A lock file on the (modelled) file system: its inode number and the open file holding its flock. */
    static final class LockFileInode {
        final Path path;
        final long inode;
        LockHandle holder;

        LockFileInode(Path path, long inode) {
            this.path = path;
            this.inode = inode;
        }
    }

    /** An open lock file; its flock goes with its last reference, as flock(2)'s does. */
    static final class LockHandle extends OpenFile {
        final LockFileInode file;

        LockHandle(InMemoryKernel kernel, LockFileInode file) {
            super(kernel, FdKind.REGULAR_FILE);
            this.file = file;
        }

        @Override
        void release(InMemoryKernel kernel) {
            if (file.holder == this) {
                file.holder = null;
            }
        }

        @Override
        String describe() {
            return "lock file " + file.path;
        }

        @Override
        int readiness() {
            return 0;
        }
    }

    /** Any other file, made by {@link InMemoryOs#openFake(FdKind, String)}. */
    static final class Fake extends OpenFile {
        final String description;

        Fake(InMemoryKernel kernel, FdKind kind, String description) {
            super(kernel, kind);
            this.description = description;
        }

        @Override
        void release(InMemoryKernel kernel) {
        }

        @Override
        String describe() {
            return description;
        }

        @Override
        int readiness() {
            return 0;
        }
    }

    /** An open /dev/net/tun attached (or detached) as one queue of a TAP device. */
    static final class TapQueue extends OpenFile {
        final TapDevice device;
        final ArrayDeque<byte[]> ring = new ArrayDeque<>();
        boolean detached;

        TapQueue(InMemoryKernel kernel, TapDevice device) {
            super(kernel, FdKind.TUN);
            this.device = device;
        }

        @Override
        void release(InMemoryKernel kernel) {
            kernel.closeQueue(this);
        }

        @Override
        String describe() {
            return "tun queue of " + device.name + (detached ? " (detached)" : "");
        }

        @Override
        int readiness() {
            return (ring.isEmpty() ? 0 : dev.livetap.nativeio.Reactor.READ) | dev.livetap.nativeio.Reactor.WRITE;
        }
    }
}
