package dev.livetap.actors.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.guest.GuestOutcome.Reason;
import dev.livetap.actors.options.MacAddress;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GuestResponderTest {
    static final MacAddress GUEST_MAC = MacAddress.parse("52:54:00:12:34:56");
    static final Ipv4Address GUEST_IP = Ipv4Address.parse("10.0.0.2");
    static final MacAddress HOST_MAC = MacAddress.parse("02:00:00:00:00:01");
    static final Ipv4Address HOST_IP = Ipv4Address.parse("10.0.0.1");
    static final byte[] ABCD = {0x61, 0x62, 0x63, 0x64};

    private static GuestResponder guest(int vnetHdrLen) {
        return new GuestResponder(GUEST_MAC, GUEST_IP, vnetHdrLen);
    }

    private static byte[] echo(int vnetHdrLen) {
        return ProbeFrames.echoRequest(HOST_MAC, GUEST_MAC, HOST_IP, GUEST_IP, 0x1c46, 1, 1, ABCD, vnetHdrLen);
    }

    private static Reason ignoredReason(GuestOutcome outcome) {
        return assertInstanceOf(GuestOutcome.Ignored.class, outcome).reason();
    }

    @Test
    void checksumOfAKnownHeader() {
        // The classic IPv4 header example (192.168.0.1 -> 192.168.0.199, UDP): checksum 0xb861.
        byte[] header = Hex.bytes("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7");
        assertEquals(0xb861, InternetChecksum.compute(header, 0, header.length));
        header[10] = (byte) 0xb8;
        header[11] = 0x61;
        assertTrue(InternetChecksum.verifies(header, 0, header.length));
        assertTrue(IndependentChecksum.verifies(header, 0, header.length));
        // Odd length: the last byte is padded with a zero byte.
        assertEquals(~(0x0102 + 0x0300) & 0xFFFF, InternetChecksum.compute(new byte[] {1, 2, 3}, 0, 3));
    }

    @Test
    void probeEchoRequestBytesByHand() {
        // IPv4 sum 4500+0020+1c46+4000+4001+0a00+0001+0a00+0002 = f56a -> checksum 0a95;
        // ICMP sum 0800+0001+0001+6162+6364 = ccc8 -> checksum 3337.
        assertEquals("52540012345602000000000108004500" + "00201c4640004001" + "0a95" + "0a0000010a000002"
                + "0800" + "3337" + "0001000161626364", Hex.of(echo(0)));
        byte[] withHeader = echo(10);
        assertArrayEquals(new byte[10], Arrays.copyOf(withHeader, 10), "a zero vnet header in front");
        assertArrayEquals(echo(0), Arrays.copyOfRange(withHeader, 10, withHeader.length));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 10, 12})
    void echoReplyBytesByHand(int vnetHdrLen) {
        GuestOutcome outcome = guest(vnetHdrLen).respond(echo(vnetHdrLen));
        byte[] reply = assertInstanceOf(GuestOutcome.EchoReply.class, outcome).reply().orElseThrow();
        // IPv4: 4500+0020+1c46+0000+4001+0a00+0002+0a00+0001 = b56a -> checksum 4a95 (TTL 64, no DF);
        // ICMP: 0000+0001+0001+6162+6364 = c4c8 -> checksum 3b37.
        String expected = "00".repeat(vnetHdrLen)
                + "020000000001" + "525400123456" + "0800"
                + "4500" + "0020" + "1c46" + "0000" + "4001" + "4a95" + "0a000002" + "0a000001"
                + "0000" + "3b37" + "0001" + "0001" + "61626364";
        assertEquals(expected, Hex.of(reply));
        int ip = vnetHdrLen + 14;
        assertTrue(IndependentChecksum.verifies(reply, ip, 20));
        assertTrue(IndependentChecksum.verifies(reply, ip + 20, 12));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 10, 12})
    void arpReplyBytesByHand(int vnetHdrLen) {
        byte[] request = ProbeFrames.arpRequest(HOST_MAC, HOST_IP, GUEST_IP, vnetHdrLen);
        assertEquals("00".repeat(vnetHdrLen) + "ffffffffffff" + "020000000001" + "0806"
                + "0001" + "0800" + "06" + "04" + "0001" + "020000000001" + "0a000001" + "000000000000" + "0a000002",
                Hex.of(request));
        byte[] reply = assertInstanceOf(GuestOutcome.ArpReply.class, guest(vnetHdrLen).respond(request))
                .reply().orElseThrow();
        assertEquals("00".repeat(vnetHdrLen) + "020000000001" + "525400123456" + "0806"
                + "0001" + "0800" + "06" + "04" + "0002" + "525400123456" + "0a000002" + "020000000001" + "0a000001",
                Hex.of(reply));
    }

    @Test
    void vnetHeaderIsStrippedWhateverItHolds() {
        byte[] frame = echo(12);
        // flags DATA_VALID, num_buffers 1: not GSO, so the frame is answered.
        frame[0] = VirtioNetHdr.F_DATA_VALID;
        frame[10] = 1;
        assertInstanceOf(GuestOutcome.EchoReply.class, guest(12).respond(frame));
        assertEquals(new VirtioNetHdr(2, 0, 0, 0, 0, 0, 1), VirtioNetHdr.read(frame, 0, 12));
        assertEquals(new VirtioNetHdr(2, 0, 0, 0, 0, 0, 0), VirtioNetHdr.read(frame, 0, 10));
    }

    @Test
    void partialChecksumIsNotVerified() {
        byte[] frame = echo(10);
        frame[10 + 14 + 20 + 2] ^= 0x55; // break the ICMP checksum
        assertEquals(Reason.NOT_ECHO_REQUEST, ignoredReason(guest(10).respond(frame)));
        frame[0] = VirtioNetHdr.F_NEEDS_CSUM;
        byte[] reply = guest(10).respond(frame).reply().orElseThrow();
        assertTrue(IndependentChecksum.verifies(reply, 10 + 14 + 20, 12), "the reply's checksum is computed in full");
    }

    @Test
    void ethernetPaddingIsNotEchoed() {
        byte[] padded = Arrays.copyOf(echo(0), 60); // the minimum Ethernet frame, padded with zeros
        byte[] reply = guest(0).respond(padded).reply().orElseThrow();
        assertEquals(14 + 20 + 12, reply.length);
    }

    @Test
    void respondsWithinALargerBuffer() {
        byte[] frame = echo(10);
        byte[] buffer = new byte[frame.length + 100];
        System.arraycopy(frame, 0, buffer, 7, frame.length);
        assertArrayEquals(guest(10).respond(frame).reply().orElseThrow(),
                guest(10).respond(buffer, 7, frame.length).reply().orElseThrow());
    }

    // --- what is ignored ---

    @Test
    void ignoresTruncatedFrames() {
        assertEquals(Reason.TRUNCATED, ignoredReason(guest(10).respond(new byte[23])));
        byte[] arp = ProbeFrames.arpRequest(HOST_MAC, HOST_IP, GUEST_IP, 0);
        assertEquals(Reason.TRUNCATED, ignoredReason(guest(0).respond(Arrays.copyOf(arp, arp.length - 1))));
        byte[] e = echo(0);
        assertEquals(Reason.TRUNCATED, ignoredReason(guest(0).respond(Arrays.copyOf(e, e.length - 1))));
        assertEquals(Reason.TRUNCATED, ignoredReason(guest(0).respond(Arrays.copyOf(e, 14 + 19))));
    }

    @Test
    void ignoresGso() {
        byte[] frame = echo(10);
        frame[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
        assertEquals(Reason.GSO, ignoredReason(guest(10).respond(frame)));
    }

    @Test
    void ignoresOtherMacsAndMulticast() {
        MacAddress other = MacAddress.parse("52:54:00:00:00:99");
        assertEquals(Reason.NOT_FOR_THIS_MAC, ignoredReason(guest(0).respond(
                ProbeFrames.echoRequest(HOST_MAC, other, HOST_IP, GUEST_IP, 1, 1, 1, ABCD, 0))));
        assertEquals(Reason.NOT_FOR_THIS_MAC, ignoredReason(guest(0).respond(ProbeFrames.echoRequest(HOST_MAC,
                MacAddress.parse("01:00:5e:00:00:01"), HOST_IP, Ipv4Address.parse("224.0.0.1"), 1, 1, 1, ABCD, 0))));
        assertEquals(Reason.IPV4_NOT_FOR_GUEST, ignoredReason(guest(0).respond(ProbeFrames.echoRequest(HOST_MAC,
                MacAddress.BROADCAST, HOST_IP, Ipv4Address.parse("10.0.0.255"), 1, 1, 1, ABCD, 0))));
    }

    @Test
    void ignoresIpv6AndOtherEthertypes() {
        byte[] frame = echo(0);
        frame[12] = (byte) 0x86;
        frame[13] = (byte) 0xdd;
        assertEquals(Reason.IPV6, ignoredReason(guest(0).respond(frame)));
        frame[12] = (byte) 0x81; // 802.1Q tag
        frame[13] = 0x00;
        assertEquals(Reason.OTHER_ETHERTYPE, ignoredReason(guest(0).respond(frame)));
    }

    @Test
    void ignoresArpThatIsNotARequestForTheGuest() {
        assertEquals(Reason.ARP_NOT_FOR_GUEST, ignoredReason(guest(0).respond(
                ProbeFrames.arpRequest(HOST_MAC, HOST_IP, Ipv4Address.parse("10.0.0.3"), 0))));
        byte[] reply = ProbeFrames.arpRequest(HOST_MAC, HOST_IP, GUEST_IP, 0);
        reply[14 + 7] = 2; // an ARP reply, not a request
        assertEquals(Reason.ARP_NOT_FOR_GUEST, ignoredReason(guest(0).respond(reply)));
        assertEquals(Reason.ARP_NOT_FOR_GUEST, ignoredReason(guest(0).respond(
                ProbeFrames.arpRequest(HOST_MAC, GUEST_IP, GUEST_IP, 0))), "gratuitous ARP for our own address");
    }

    @Test
    void ignoresIpv4ToOthersMalformedOrFragmented() {
        assertEquals(Reason.IPV4_NOT_FOR_GUEST, ignoredReason(guest(0).respond(ProbeFrames.echoRequest(HOST_MAC,
                GUEST_MAC, HOST_IP, Ipv4Address.parse("10.0.0.3"), 1, 1, 1, ABCD, 0))));
        byte[] badChecksum = echo(0);
        badChecksum[14 + 10] ^= 1;
        assertEquals(Reason.IPV4_MALFORMED, ignoredReason(guest(0).respond(badChecksum)));
        byte[] version6 = echo(0);
        version6[14] = 0x65;
        assertEquals(Reason.IPV4_MALFORMED, ignoredReason(guest(0).respond(version6)));
        byte[] fragment = echo(0);
        fragment[14 + 6] = 0x20; // MF
        fragment[14 + 10] = 0;
        fragment[14 + 11] = 0;
        int sum = InternetChecksum.compute(fragment, 14, 20);
        fragment[14 + 10] = (byte) (sum >>> 8);
        fragment[14 + 11] = (byte) sum;
        assertEquals(Reason.IPV4_FRAGMENT, ignoredReason(guest(0).respond(fragment)));
    }

    @Test
    void ignoresIcmpOtherThanEchoRequest() {
        byte[] echoReply = guest(0).respond(echo(0)).reply().orElseThrow();
        // Swap the addresses back so that the reply is addressed to the guest.
        byte[] toGuest = ProbeFrames.echoRequest(HOST_MAC, GUEST_MAC, HOST_IP, GUEST_IP, 0x1c46, 1, 1, ABCD, 0);
        System.arraycopy(echoReply, 34, toGuest, 34, 12); // ICMP type 0 with its valid checksum
        assertEquals(Reason.NOT_ECHO_REQUEST, ignoredReason(guest(0).respond(toGuest)));
    }

    @Test
    void rejectsBadConfiguration() {
        assertThrows(IllegalArgumentException.class, () -> new GuestResponder(GUEST_MAC, GUEST_IP, 11));
        assertThrows(IllegalArgumentException.class,
                () -> new GuestResponder(MacAddress.parse("01:00:00:00:00:01"), GUEST_IP, 0));
        assertThrows(IllegalArgumentException.class, () -> Ipv4Address.parse("10.0.0.256"));
        assertEquals("10.0.0.2", GUEST_IP.toString());
    }

    @Test
    void countersCountEveryFrameOnce() {
        GuestResponder g = guest(10);
        GuestCounters c = GuestCounters.ZERO;
        c = c.after(g.respond(echo(10)));
        c = c.after(g.respond(ProbeFrames.arpRequest(HOST_MAC, HOST_IP, GUEST_IP, 10)));
        c = c.after(g.respond(new byte[3]));
        c = c.after(g.respond(echo(10)));
        assertEquals(new GuestCounters(4, 1, 2, 1), c);
        assertEquals(new GuestCounters(8, 2, 4, 2), c.plus(c));
        assertThrows(IllegalArgumentException.class, () -> new GuestCounters(1, 1, 1, 0));
    }
}
