package dev.livetap.actors.guest;

import static dev.livetap.actors.guest.EthernetFrames.ARP_LENGTH;
import static dev.livetap.actors.guest.EthernetFrames.ARP_REPLY;
import static dev.livetap.actors.guest.EthernetFrames.ARP_REQUEST;
import static dev.livetap.actors.guest.EthernetFrames.ETHERTYPE_ARP;
import static dev.livetap.actors.guest.EthernetFrames.ETHERTYPE_IPV4;
import static dev.livetap.actors.guest.EthernetFrames.ETHERTYPE_IPV6;
import static dev.livetap.actors.guest.EthernetFrames.ETH_HEADER;
import static dev.livetap.actors.guest.EthernetFrames.ICMP_ECHO_REPLY;
import static dev.livetap.actors.guest.EthernetFrames.ICMP_ECHO_REQUEST;
import static dev.livetap.actors.guest.EthernetFrames.ICMP_HEADER;
import static dev.livetap.actors.guest.EthernetFrames.IPV4_HEADER;
import static dev.livetap.actors.guest.EthernetFrames.PROTO_ICMP;
import static dev.livetap.actors.guest.EthernetFrames.REPLY_TTL;
import static dev.livetap.actors.guest.EthernetFrames.be16;
import static dev.livetap.actors.guest.EthernetFrames.putBe16;

import dev.livetap.actors.guest.GuestOutcome.Reason;
import dev.livetap.actors.options.MacAddress;

/**
 * The guest stand-in's network stack: given one frame read from a TAP queue, the reply to
 * write back, if any. It answers ARP requests for its IPv4 address and ICMP echo requests to
 * it; everything else (IPv6, other addresses, multicast, fragments) is ignored. Pure and
 * immutable: counting is {@link GuestCounters#after}.
 *
 * <p>Frames start with a {@link VirtioNetHdr} of {@code vnetHdrLen} bytes (0, 10 or 12), which
 * is stripped on input; replies start with an all-zero header of the same length. A partial
 * ICMP checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM) is not verified.
 *
 * @param mac the guest NIC's address
 * @param ip the guest's IPv4 address
 * @param vnetHdrLen the queue's vnet header length: 0, 10 or 12
 */
public record GuestResponder(MacAddress mac, Ipv4Address ip, int vnetHdrLen) {

    public GuestResponder {
        if (mac == null || ip == null) {
            throw new IllegalArgumentException("mac and ip are required");
        }
        if (mac.isMulticast()) {
            throw new IllegalArgumentException("the guest MAC must be unicast: " + mac);
        }
        VirtioNetHdr.requireLength(vnetHdrLen);
    }

    /** The reply to {@code frame} (a whole buffer read from the queue). */
    public GuestOutcome respond(byte[] frame) {
        return respond(frame, 0, frame.length);
    }

    /** The reply to the frame of {@code length} bytes at {@code offset} of {@code buffer}. */
    public GuestOutcome respond(byte[] buffer, int offset, int length) {
        if (length < vnetHdrLen + ETH_HEADER) {
            return new GuestOutcome.Ignored(Reason.TRUNCATED);
        }
        boolean partialChecksum = false;
        if (vnetHdrLen > 0) {
            VirtioNetHdr hdr = VirtioNetHdr.read(buffer, offset, vnetHdrLen);
            if (hdr.gsoType() != VirtioNetHdr.GSO_NONE) {
                return new GuestOutcome.Ignored(Reason.GSO);
            }
            partialChecksum = hdr.needsChecksum();
        }
        int eth = offset + vnetHdrLen;
        int ethLength = length - vnetHdrLen;
        MacAddress dst = MacAddress.of(buffer, eth);
        if (!dst.equals(mac) && !dst.isBroadcast()) {
            return new GuestOutcome.Ignored(Reason.NOT_FOR_THIS_MAC);
        }
        int ethertype = be16(buffer, eth + 12);
        switch (ethertype) {
            case ETHERTYPE_ARP:
                return arp(buffer, eth, ethLength);
            case ETHERTYPE_IPV4:
                if (!dst.equals(mac)) {
                    return new GuestOutcome.Ignored(Reason.IPV4_NOT_FOR_GUEST);
                }
                return ipv4(buffer, eth, ethLength, partialChecksum);
            case ETHERTYPE_IPV6:
                return new GuestOutcome.Ignored(Reason.IPV6);
            default:
                return new GuestOutcome.Ignored(Reason.OTHER_ETHERTYPE);
        }
    }

    private GuestOutcome arp(byte[] b, int eth, int ethLength) {
        if (ethLength < ETH_HEADER + ARP_LENGTH) {
            return new GuestOutcome.Ignored(Reason.TRUNCATED);
        }
        int a = eth + ETH_HEADER;
        boolean ethernetIpv4 = be16(b, a) == 1 && be16(b, a + 2) == ETHERTYPE_IPV4 && (b[a + 4] & 0xFF) == 6
                && (b[a + 5] & 0xFF) == 4;
        if (!ethernetIpv4 || be16(b, a + 6) != ARP_REQUEST || !Ipv4Address.of(b, a + 24).equals(ip)) {
            return new GuestOutcome.Ignored(Reason.ARP_NOT_FOR_GUEST);
        }
        MacAddress senderMac = MacAddress.of(b, a + 8);
        Ipv4Address senderIp = Ipv4Address.of(b, a + 14);
        if (senderIp.equals(ip)) {
            // A gratuitous ARP or a conflict announcement for our own address: nothing to answer.
            return new GuestOutcome.Ignored(Reason.ARP_NOT_FOR_GUEST);
        }
        byte[] out = new byte[vnetHdrLen + ETH_HEADER + ARP_LENGTH];
        int e = vnetHdrLen;
        senderMac.writeTo(out, e);
        mac.writeTo(out, e + 6);
        putBe16(out, e + 12, ETHERTYPE_ARP);
        int r = e + ETH_HEADER;
        putBe16(out, r, 1);
        putBe16(out, r + 2, ETHERTYPE_IPV4);
        out[r + 4] = 6;
        out[r + 5] = 4;
        putBe16(out, r + 6, ARP_REPLY);
        mac.writeTo(out, r + 8);
        ip.writeTo(out, r + 14);
        senderMac.writeTo(out, r + 18);
        senderIp.writeTo(out, r + 24);
        return new GuestOutcome.ArpReply(out);
    }

    private GuestOutcome ipv4(byte[] b, int eth, int ethLength, boolean partialChecksum) {
        int ipAt = eth + ETH_HEADER;
        int available = ethLength - ETH_HEADER;
        if (available < IPV4_HEADER) {
            return new GuestOutcome.Ignored(Reason.TRUNCATED);
        }
        int versionIhl = b[ipAt] & 0xFF;
        int headerLength = (versionIhl & 0x0F) * 4;
        int totalLength = be16(b, ipAt + 2);
        if ((versionIhl >>> 4) != 4 || headerLength < IPV4_HEADER || totalLength < headerLength) {
            return new GuestOutcome.Ignored(Reason.IPV4_MALFORMED);
        }
        if (totalLength > available) {
            return new GuestOutcome.Ignored(Reason.TRUNCATED);
        }
        if (!InternetChecksum.verifies(b, ipAt, headerLength)) {
            return new GuestOutcome.Ignored(Reason.IPV4_MALFORMED);
        }
        if (!Ipv4Address.of(b, ipAt + 16).equals(ip)) {
            return new GuestOutcome.Ignored(Reason.IPV4_NOT_FOR_GUEST);
        }
        int flagsFragment = be16(b, ipAt + 6);
        if ((flagsFragment & 0x3FFF) != 0) { // MF set or a non-zero offset
            return new GuestOutcome.Ignored(Reason.IPV4_FRAGMENT);
        }
        int icmpAt = ipAt + headerLength;
        int icmpLength = totalLength - headerLength;
        if ((b[ipAt + 9] & 0xFF) != PROTO_ICMP || icmpLength < ICMP_HEADER
                || (b[icmpAt] & 0xFF) != ICMP_ECHO_REQUEST || b[icmpAt + 1] != 0
                || (!partialChecksum && !InternetChecksum.verifies(b, icmpAt, icmpLength))) {
            return new GuestOutcome.Ignored(Reason.NOT_ECHO_REQUEST);
        }
        MacAddress requesterMac = MacAddress.of(b, eth + 6);
        byte[] out = new byte[vnetHdrLen + ETH_HEADER + IPV4_HEADER + icmpLength];
        int e = vnetHdrLen;
        requesterMac.writeTo(out, e);
        mac.writeTo(out, e + 6);
        putBe16(out, e + 12, ETHERTYPE_IPV4);
        int o = e + ETH_HEADER;
        out[o] = 0x45; // version 4, no options: the request's options are not echoed
        out[o + 1] = b[ipAt + 1]; // TOS kept
        putBe16(out, o + 2, IPV4_HEADER + icmpLength);
        out[o + 4] = b[ipAt + 4]; // identification kept: deterministic, and unique enough for replies
        out[o + 5] = b[ipAt + 5];
        putBe16(out, o + 6, 0);
        out[o + 8] = (byte) REPLY_TTL;
        out[o + 9] = (byte) PROTO_ICMP;
        ip.writeTo(out, o + 12);
        System.arraycopy(b, ipAt + 12, out, o + 16, 4); // back to the requester
        putBe16(out, o + 10, InternetChecksum.compute(out, o, IPV4_HEADER));
        int c = o + IPV4_HEADER;
        System.arraycopy(b, icmpAt, out, c, icmpLength); // id, sequence and payload kept
        out[c] = (byte) ICMP_ECHO_REPLY;
        out[c + 1] = 0;
        putBe16(out, c + 2, 0);
        putBe16(out, c + 2, InternetChecksum.compute(out, c, icmpLength));
        return new GuestOutcome.EchoReply(out);
    }
}
