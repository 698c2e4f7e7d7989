package dev.livetap.nativeio;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * TAP queues through /dev/net/tun (see the kernel's Documentation/networking/tuntap.rst).
 * Every queue fd returned is non-blocking and close-on-exec.
 */
public interface Tun {
    /** The kernel's MAX_TAP_QUEUES. */
    int MAX_QUEUES = 256;

    /**
     * Opens {@code queues} queue fds of interface {@code ifname} (created if absent, or an
     * existing persistent TAP) with TUNSETIFF and {@code flags}. On failure every fd opened so
     * far is closed. Refused when the calling thread's network namespace differs from the
     * process's (design decision 6).
     *
     * @throws NativeException.TooManyQueuesException past 256 queues (E2BIG)
     * @throws NativeException.NotPermittedException without CAP_NET_ADMIN
     */
    List<OwnedFd> openQueues(String ifname, int queues, int flags);

    /** TUNGETIFF. */
    TunInfo info(OwnedFd queue);

    /** TUNGETFEATURES: the flags this kernel's TUN driver supports. */
    int features();

    /** TUNSETVNETHDRSZ (per device, not per queue). */
    void setVnetHdrSize(OwnedFd queue, int size);

    /** TUNGETVNETHDRSZ. */
    int vnetHdrSize(OwnedFd queue);

    /** TUNSETQUEUE with IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE. Detaching purges the queue's ring. */
    void setQueueAttached(OwnedFd queue, boolean attached);

    /** TUNSETOFFLOAD with TUN_F_* bits. */
    void setOffload(OwnedFd queue, int offloads);

    /** TUNSETPERSIST. */
    void setPersist(OwnedFd queue, boolean persist);

    /**
     * Reads one frame (non-blocking) into {@code into} from its position.
     *
     * @return frame length, or 0 when the queue is empty (EAGAIN)
     */
    int readFrame(OwnedFd queue, ByteBuffer into);

    /** Writes one frame (from position to limit); false if the queue would block. */
    boolean writeFrame(OwnedFd queue, ByteBuffer frame);
}
