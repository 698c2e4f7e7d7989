package dev.livetap.actors.guest;

import java.util.Optional;

/** What the guest stand-in did with one frame: a reply to write back to the queue, or nothing and why. */
public sealed interface GuestOutcome {
    /** The frame to write to the TAP queue, vnet header included, if any. */
    Optional<byte[]> reply();

    /** An ARP reply for the guest's address. */
    record ArpReply(byte[] frame) implements GuestOutcome {
        @Override
        public Optional<byte[]> reply() {
            return Optional.of(frame.clone());
        }
    }

    /** An ICMP echo reply. */
    record EchoReply(byte[] frame) implements GuestOutcome {
        @Override
        public Optional<byte[]> reply() {
            return Optional.of(frame.clone());
        }
    }

    /** Not for this guest, or not something it answers. */
    record Ignored(Reason reason) implements GuestOutcome {
        @Override
        public Optional<byte[]> reply() {
            return Optional.empty();
        }
    }

    /** Why a frame was ignored. */
    enum Reason {
        /** Shorter than the vnet header plus an Ethernet header, or than its own headers say. */
        TRUNCATED,
        /** A GSO frame (the stand-in only answers single small frames). */
        GSO,
        /** Destined to another MAC, or to a multicast group. */
        NOT_FOR_THIS_MAC,
        /** IPv6 (MLD, DAD and router solicitations arrive on fresh interfaces). */
        IPV6,
        /** Neither ARP nor IPv4 (VLAN tags included). */
        OTHER_ETHERTYPE,
        /** ARP that is not a request for the guest's address. */
        ARP_NOT_FOR_GUEST,
        /** IPv4 to another address (other hosts, broadcast, multicast). */
        IPV4_NOT_FOR_GUEST,
        /** A bad IPv4 version, header length, total length or header checksum. */
        IPV4_MALFORMED,
        /** An IPv4 fragment. */
        IPV4_FRAGMENT,
        /** IPv4 other than an ICMP echo request with a valid checksum. */
        NOT_ECHO_REQUEST
    }
}
