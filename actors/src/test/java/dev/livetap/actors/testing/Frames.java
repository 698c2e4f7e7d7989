package dev.livetap.actors.testing;

import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.guest.ProbeFrames;
import dev.livetap.actors.options.MacAddress;
import java.util.Optional;

/** Host-side probe frames (Ethernet, no vnet header: the in-memory kernel's host side) and reply parsing. */
public final class Frames {
    public static final MacAddress HOST_MAC = MacAddress.parse("02:00:00:00:00:01");
    public static final Ipv4Address GUEST_IP = Ipv4Address.parse("10.0.0.2");
    public static final MacAddress GUEST_MAC = MacAddress.parse("52:54:00:12:34:56");

    private Frames() {
    }

    /** An echo request from host address 10.0.1.{@code host} (varying it spreads requests over queues by flow hash). */
    public static byte[] echo(int host, int sequence) {
        return ProbeFrames.echoRequest(HOST_MAC, GUEST_MAC, Ipv4Address.parse("10.0.1." + host), GUEST_IP, sequence,
                0x4C54, sequence, new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, 0);
    }

    /** The ICMP sequence of an echo reply from the guest, if {@code frame} is one. */
    public static Optional<Integer> echoReplySequence(byte[] frame) {
        if (frame.length < 42 || frame[12] != 0x08 || frame[13] != 0x00 || frame[23] != 1 || frame[34] != 0) {
            return Optional.empty();
        }
        return Optional.of(((frame[40] & 0xFF) << 8) | (frame[41] & 0xFF));
    }
}
