package dev.livetap.actors.nic;

import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.guest.GuestCounters;
import dev.livetap.actors.guest.Ipv4Address;
import dev.livetap.actors.options.MacAddress;
import dev.livetap.codec.Schema;
import dev.livetap.codec.StateStruct;
import java.util.List;

/**
 * The {@code virtio-net} device section: the NIC's own fields, the guest stand-in's state (a
 * {@code guest} struct: the guest travels with its device) and the {@code virtio-net-nic}
 * subsection, present only when the backend travels: an array over max_queue_pairs of peer-backend
 * states, each element described by its own backend's schema (design semantic 5).
 */
public final class VirtioNetSchema {
    public static final String NAME = "virtio-net";
    public static final String NIC_SUBSECTION = "virtio-net-nic";
    public static final String GUEST = "virtio-net-guest";

    static final Schema GUEST_SCHEMA = Schema.builder(GUEST, 1)
            .bytes("mac", 6)
            .u32("ip")
            .u64("frames_seen")
            .u64("arp_replies")
            .u64("icmp_replies")
            .u64("ignored")
            .build();

    private VirtioNetSchema() {
    }

    /** The section name of the NIC {@code deviceId} (after QEMU's "id/virtio-net" idstr). */
    public static String sectionName(String deviceId) {
        return deviceId + "/" + NAME;
    }

    /** The device schema for a NIC whose peer {@code i} describes its state with {@code peerSchemas.get(i)}. */
    public static Schema schema(List<Schema> peerSchemas) {
        List<Schema> peers = List.copyOf(peerSchemas);
        // A stream with more peers than this NIC has still parses (the NIC then refuses the count).
        Schema nic = Schema.builder(NIC_SUBSECTION, 1)
                .u32("peers_len")
                .varray("peers", "peers_len", i -> peers.isEmpty() ? null : peers.get(Math.min(i, peers.size() - 1)))
                .build();
        return Schema.builder(NAME, 1)
                .bytes("mac", 6)
                .u32("max_queue_pairs")
                .u32("curr_queue_pairs")
                .u64("host_features")
                .struct("guest", GUEST_SCHEMA)
                .subsection(nic, s -> s.subsection(NIC_SUBSECTION) != null)
                .build();
    }

    static StateStruct guestToStruct(GuestActor.GuestState g) {
        return GUEST_SCHEMA.newStruct()
                .setBytes("mac", g.mac().toBytes())
                .setUint("ip", g.ip().value() & 0xFFFF_FFFFL)
                .setUint("frames_seen", g.counters().framesSeen())
                .setUint("arp_replies", g.counters().arpReplies())
                .setUint("icmp_replies", g.counters().icmpReplies())
                .setUint("ignored", g.counters().ignored());
    }

    /** Throws IllegalArgumentException on inconsistent counters or a multicast MAC. */
    static GuestActor.GuestState guestFromStruct(StateStruct s) {
        MacAddress mac = MacAddress.of(s.getBytes("mac"), 0);
        if (mac.isMulticast()) {
            throw new IllegalArgumentException("guest MAC " + mac + " is multicast");
        }
        return new GuestActor.GuestState(mac, new Ipv4Address((int) s.getUint("ip")),
                new GuestCounters(s.getUint("frames_seen"), s.getUint("arp_replies"), s.getUint("icmp_replies"),
                        s.getUint("ignored")));
    }

    static StateStruct nicSubsection(Schema device, List<StateStruct> peerStates) {
        Schema sub = device.subsections().get(0).schema();
        return sub.newStruct().setUint("peers_len", peerStates.size()).setArray("peers", peerStates);
    }
}
