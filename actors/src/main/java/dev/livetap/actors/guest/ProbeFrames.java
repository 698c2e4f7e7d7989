package dev.livetap.actors.guest;

import static dev.livetap.actors.guest.EthernetFrames.ARP_LENGTH;
import static dev.livetap.actors.guest.EthernetFrames.ARP_REQUEST;
import static dev.livetap.actors.guest.EthernetFrames.ETHERTYPE_ARP;
import static dev.livetap.actors.guest.EthernetFrames.ETHERTYPE_IPV4;
import static dev.livetap.actors.guest.EthernetFrames.ETH_HEADER;
import static dev.livetap.actors.guest.EthernetFrames.ICMP_ECHO_REQUEST;
import static dev.livetap.actors.guest.EthernetFrames.ICMP_HEADER;
import static dev.livetap.actors.guest.EthernetFrames.IPV4_HEADER;
import static dev.livetap.actors.guest.EthernetFrames.PROTO_ICMP;
import static dev.livetap.actors.guest.EthernetFrames.putBe16;

import dev.livetap.actors.options.MacAddress;

/**
 * Frames a host sends to the guest, as they would be read from a TAP queue (with a zero vnet
 * header of {@code vnetHdrLen} bytes in front): for tests and for traffic the simulation
 * injects.
 */
public final class ProbeFrames {
    /** The largest echo payload the builder makes: a 1500-byte MTU minus IPv4 and ICMP headers. */
    public static final int ECHO_PAYLOAD_MAX = 1500 - IPV4_HEADER - ICMP_HEADER;

    private ProbeFrames() {
    }

    /** A broadcast ARP request "who has {@code targetIp}? tell {@code senderIp}". */
    public static byte[] arpRequest(MacAddress senderMac, Ipv4Address senderIp, Ipv4Address targetIp, int vnetHdrLen) {
        VirtioNetHdr.requireLength(vnetHdrLen);
        byte[] out = new byte[vnetHdrLen + ETH_HEADER + ARP_LENGTH];
        int e = vnetHdrLen;
        MacAddress.BROADCAST.writeTo(out, e);
        senderMac.writeTo(out, e + 6);
        putBe16(out, e + 12, ETHERTYPE_ARP);
        int a = e + ETH_HEADER;
        putBe16(out, a, 1);
        putBe16(out, a + 2, ETHERTYPE_IPV4);
        out[a + 4] = 6;
        out[a + 5] = 4;
        putBe16(out, a + 6, ARP_REQUEST);
        senderMac.writeTo(out, a + 8);
        senderIp.writeTo(out, a + 14);
        // target hardware address stays zero, as in a request
        targetIp.writeTo(out, a + 24);
        return out;
    }

    /** An ICMP echo request with TTL 64, DF set and IP identification {@code ipId}. */
    public static byte[] echoRequest(MacAddress srcMac, MacAddress dstMac, Ipv4Address srcIp, Ipv4Address dstIp,
            int ipId, int icmpId, int sequence, byte[] payload, int vnetHdrLen) {
        VirtioNetHdr.requireLength(vnetHdrLen);
        if (payload.length > ECHO_PAYLOAD_MAX) {
            throw new IllegalArgumentException("payload above " + ECHO_PAYLOAD_MAX + " bytes: " + payload.length);
        }
        int icmpLength = ICMP_HEADER + payload.length;
        byte[] out = new byte[vnetHdrLen + ETH_HEADER + IPV4_HEADER + icmpLength];
        int e = vnetHdrLen;
        dstMac.writeTo(out, e);
        srcMac.writeTo(out, e + 6);
        putBe16(out, e + 12, ETHERTYPE_IPV4);
        int o = e + ETH_HEADER;
        out[o] = 0x45;
        putBe16(out, o + 2, IPV4_HEADER + icmpLength);
        putBe16(out, o + 4, ipId);
        putBe16(out, o + 6, 0x4000);
        out[o + 8] = 64;
        out[o + 9] = (byte) PROTO_ICMP;
        srcIp.writeTo(out, o + 12);
        dstIp.writeTo(out, o + 16);
        putBe16(out, o + 10, InternetChecksum.compute(out, o, IPV4_HEADER));
        int c = o + IPV4_HEADER;
        out[c] = (byte) ICMP_ECHO_REQUEST;
        putBe16(out, c + 4, icmpId);
        putBe16(out, c + 6, sequence);
        System.arraycopy(payload, 0, out, c + ICMP_HEADER, payload.length);
        putBe16(out, c + 2, InternetChecksum.compute(out, c, icmpLength));
        return out;
    }
}
