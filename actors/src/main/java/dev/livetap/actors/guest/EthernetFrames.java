package dev.livetap.actors.guest;

/** Offsets and constants of the Ethernet, ARP, IPv4 and ICMP layouts the stand-in handles. */
final class EthernetFrames {
    static final int ETH_HEADER = 14;
    static final int ETHERTYPE_IPV4 = 0x0800;
    static final int ETHERTYPE_ARP = 0x0806;
    static final int ETHERTYPE_IPV6 = 0x86DD;
    static final int ARP_LENGTH = 28;
    static final int ARP_REQUEST = 1;
    static final int ARP_REPLY = 2;
    static final int IPV4_HEADER = 20;
    static final int PROTO_ICMP = 1;
    static final int ICMP_ECHO_REPLY = 0;
    static final int ICMP_ECHO_REQUEST = 8;
    static final int ICMP_HEADER = 8;
    static final int REPLY_TTL = 64;

    private EthernetFrames() {
    }

    static int be16(byte[] b, int at) {
        return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
    }

    static void putBe16(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }
}
