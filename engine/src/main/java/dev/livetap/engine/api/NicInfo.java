package dev.livetap.engine.api;

import java.util.List;

/**
 * One NIC of a VM (livetap's {@code x-query-nics}).
 *
 * @param deviceId          the device id
 * @param queuePairs        its queue pairs
 * @param peersWaitIncoming whether its TAP queues wait for an incoming migration
 * @param queues            each TAP queue, in order
 * @param guestMac          the guest stand-in's MAC address
 * @param guestIp           the guest stand-in's IPv4 address
 * @param guestFramesSeen   frames the guest stand-in read
 * @param guestArpReplies   ARP replies it sent
 * @param guestIcmpReplies  ICMP echo replies it sent
 */
public record NicInfo(String deviceId, int queuePairs, boolean peersWaitIncoming, List<QueueInfo> queues,
        String guestMac, String guestIp, long guestFramesSeen, long guestArpReplies, long guestIcmpReplies) {

    /** Copies {@code queues}. */
    public NicInfo {
        queues = List.copyOf(queues);
    }

    /**
     * One TAP queue of a NIC.
     *
     * @param queue        its index
     * @param state        its state (docs/architecture.md's queue diagram: {@code waiting-incoming}, {@code active}, ...)
     * @param reading      whether it reads its TAP queue now
     * @param ownsResource whether it holds the queue's fd
     */
    public record QueueInfo(int queue, String state, boolean reading, boolean ownsResource) {
    }
}
