package dev.livetap.actors.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.options.MacAddress;
import java.util.Arrays;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class GuestResponderPropertyTest {
    private static final MacAddress GUEST_MAC = GuestResponderTest.GUEST_MAC;
    private static final Ipv4Address GUEST_IP = GuestResponderTest.GUEST_IP;

    private static int vnetLength(int choice) {
        return VirtioNetHdr.LENGTHS.get(choice);
    }

    @Property
    void everyEchoRequestGetsAVerifiedReplyWithTheSamePayload(
            @ForAll @Size(max = 1400) byte[] payload,
            @ForAll @IntRange(min = 0, max = 0xFFFF) int icmpId,
            @ForAll @IntRange(min = 0, max = 0xFFFF) int sequence,
            @ForAll @IntRange(min = 0, max = 0xFFFF) int ipId,
            @ForAll @IntRange(min = 0, max = 2) int vnetChoice,
            @ForAll int hostIp) {
        int vnet = vnetLength(vnetChoice);
        Ipv4Address host = new Ipv4Address(hostIp);
        byte[] request = ProbeFrames.echoRequest(GuestResponderTest.HOST_MAC, GUEST_MAC, host, GUEST_IP, ipId, icmpId,
                sequence, payload, vnet);
        byte[] reply = assertInstanceOf(GuestOutcome.EchoReply.class,
                new GuestResponder(GUEST_MAC, GUEST_IP, vnet).respond(request)).reply().orElseThrow();

        int ip = vnet + 14;
        int icmp = ip + 20;
        assertArrayEquals(new byte[vnet], Arrays.copyOf(reply, vnet), "a zero vnet header comes first");
        assertEquals(icmp + 8 + payload.length, reply.length);
        assertTrue(IndependentChecksum.verifies(reply, ip, 20), "IPv4 header checksum verifies");
        assertTrue(IndependentChecksum.verifies(reply, icmp, 8 + payload.length), "ICMP checksum verifies");
        assertEquals(64, reply[ip + 8] & 0xFF, "TTL");
        assertEquals(1, reply[ip + 9], "protocol ICMP");
        assertEquals(0, reply[icmp], "type echo reply");
        assertEquals(0, reply[icmp + 1], "code 0");
        assertEquals(icmpId, EthernetFrames.be16(reply, icmp + 4), "identifier kept");
        assertEquals(sequence, EthernetFrames.be16(reply, icmp + 6), "sequence kept");
        assertArrayEquals(payload, Arrays.copyOfRange(reply, icmp + 8, reply.length), "payload kept");
        assertEquals(GUEST_IP, Ipv4Address.of(reply, ip + 12));
        assertEquals(host, Ipv4Address.of(reply, ip + 16));
        assertEquals(GuestResponderTest.HOST_MAC, MacAddress.of(reply, vnet));
        assertEquals(GUEST_MAC, MacAddress.of(reply, vnet + 6));
    }

    @Property
    void requestsFromTheBuilderVerifyToo(@ForAll @Size(max = 1400) byte[] payload,
            @ForAll @IntRange(min = 0, max = 2) int vnetChoice) {
        int vnet = vnetLength(vnetChoice);
        byte[] request = ProbeFrames.echoRequest(GuestResponderTest.HOST_MAC, GUEST_MAC, GuestResponderTest.HOST_IP,
                GUEST_IP, 7, 8, 9, payload, vnet);
        assertTrue(IndependentChecksum.verifies(request, vnet + 14, 20));
        assertTrue(IndependentChecksum.verifies(request, vnet + 34, 8 + payload.length));
    }

    @Property
    void anyBytesAreAnsweredOrIgnoredWithoutThrowing(@ForAll @Size(max = 200) byte[] frame,
            @ForAll @IntRange(min = 0, max = 2) int vnetChoice) {
        GuestOutcome outcome = new GuestResponder(GUEST_MAC, GUEST_IP, vnetLength(vnetChoice)).respond(frame);
        assertEquals(1, GuestCounters.ZERO.after(outcome).framesSeen());
    }

    @Property
    void corruptingOneByteOfTheIpHeaderNeverYieldsAReplyWithABadChecksum(
            @ForAll @IntRange(min = 0, max = 19) int at, @ForAll @IntRange(min = 1, max = 255) int flip) {
        byte[] request = ProbeFrames.echoRequest(GuestResponderTest.HOST_MAC, GUEST_MAC, GuestResponderTest.HOST_IP,
                GUEST_IP, 1, 2, 3, new byte[] {1, 2, 3}, 0);
        request[14 + at] ^= (byte) flip;
        GuestOutcome outcome = new GuestResponder(GUEST_MAC, GUEST_IP, 0).respond(request);
        outcome.reply().ifPresent(reply -> {
            assertTrue(IndependentChecksum.verifies(reply, 14, 20));
            assertTrue(IndependentChecksum.verifies(reply, 34, reply.length - 34));
        });
    }
}
