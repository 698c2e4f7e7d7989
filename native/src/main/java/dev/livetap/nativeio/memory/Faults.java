package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.OwnedFd;

/**
 * Fault hooks of the in-memory kernel, for the simulation's fault catalogue. Every hook acts on
 * the kernel state at once, or on the next matching call, deterministically.
 */
public final class Faults {
    private final InMemoryKernel kernel;
    private int maxBytesPerRecvmsg;

    Faults(InMemoryKernel kernel) {
        this.kernel = kernel;
    }

    /** Every recvmsg returns at most {@code bytes} bytes (0 = no limit): short reads everywhere. */
    public void maxBytesPerRecvmsg(int bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative limit " + bytes);
        }
        synchronized (kernel.lock) {
            maxBytesPerRecvmsg = bytes;
        }
    }

    int maxBytesPerRecvmsg() {
        return maxBytesPerRecvmsg;
    }

    /**
     * The next recvmsg on {@code socket} that brings fds finds the process out of descriptors
     * (EMFILE): none is installed, MSG_CTRUNC is set, and recvmsg raises a FramingException.
     */
    public void truncateFdsOnNextRecvmsg(OwnedFd socket) {
        synchronized (kernel.lock) {
            InMemoryOs.socketOf(socket, "faults.truncateFdsOnNextRecvmsg").truncateNextFds = true;
        }
    }

    /**
     * XORs {@code mask} into the byte at {@code offset} of the bytes in flight towards
     * {@code socket} (0 = the next byte it will read).
     *
     * @return false if fewer than {@code offset + 1} bytes are in flight
     */
    public boolean corruptInFlight(OwnedFd socket, int offset, int mask) {
        synchronized (kernel.lock) {
            OpenFile.SocketEnd end = InMemoryOs.socketOf(socket, "faults.corruptInFlight");
            int skip = offset;
            for (OpenFile.Segment s : end.inbound) {
                if (skip < s.remaining()) {
                    s.data[s.pos + skip] ^= (byte) mask;
                    return true;
                }
                skip -= s.remaining();
            }
            return false;
        }
    }

    /**
     * Keeps only the first {@code keepBytes} bytes in flight towards {@code socket} (fds riding on
     * dropped bytes are dropped), and cuts the connection after them: the reader sees EOF there,
     * the writer EPIPE.
     */
    public void truncateInFlight(OwnedFd socket, int keepBytes) {
        synchronized (kernel.lock) {
            OpenFile.SocketEnd end = InMemoryOs.socketOf(socket, "faults.truncateInFlight");
            int kept = 0;
            java.util.ArrayDeque<OpenFile.Segment> keep = new java.util.ArrayDeque<>();
            for (OpenFile.Segment s : end.inbound) {
                int take = Math.min(s.remaining(), keepBytes - kept);
                if (take <= 0) {
                    kernel.unrefAll(s.fds);
                    continue;
                }
                if (take < s.remaining()) {
                    byte[] cut = java.util.Arrays.copyOfRange(s.data, s.pos, s.pos + take);
                    OpenFile.Segment t = new OpenFile.Segment(cut, s.fds);
                    keep.add(t);
                } else {
                    keep.add(s);
                }
                kept += take;
            }
            end.inbound.clear();
            end.inbound.addAll(keep);
            end.inboundBytes = kept;
            cut(end);
        }
    }

    /**
     * The connection of {@code socket} breaks: bytes and fds in flight both ways are lost, and both
     * ends get ECONNRESET (reads) / EPIPE (writes). The descriptors stay open: their owners close them.
     */
    public void dropConnection(OwnedFd socket) {
        synchronized (kernel.lock) {
            OpenFile.SocketEnd end = InMemoryOs.socketOf(socket, "faults.dropConnection");
            for (OpenFile.SocketEnd e : new OpenFile.SocketEnd[] {end, end.peer}) {
                if (e == null) {
                    continue;
                }
                for (OpenFile.Segment s : e.inbound) {
                    kernel.unrefAll(s.fds);
                }
                e.inbound.clear();
                e.inboundBytes = 0;
                e.pendingError = Errno.ECONNRESET;
                e.peerGone = true;
            }
        }
    }

    private static void cut(OpenFile.SocketEnd end) {
        end.peerGone = true;
        if (end.peer != null) {
            end.peer.peerGone = true;
        }
    }
}
