package dev.livetap.codec;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.OwnedFd;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Test fixtures: the {@code net-tap} per-queue backend schema (design semantics 4; the actors
 * module owns the production one) and a virtio-net device whose {@code virtio-net-nic}
 * subsection holds an array of peer-backend states described by each peer at run time.
 */
public final class Fixtures {
    public static final String MACHINE = "pc-q35-10.2";

    private Fixtures() {
    }

    /** The net-tap backend's own state description. */
    public static Schema netTap() {
        return Schema.builder("net-tap", 1)
                .fd("fd")
                .bool("using_vnet_hdr")
                .bool("has_ufo")
                .bool("has_uso")
                .bool("has_tunnel")
                .bool("enabled")
                .u32("host_vnet_hdr_len")
                .build();
    }

    public static StateStruct netTapState(OwnedFd fd, int queue) {
        return netTap().newStruct()
                .setFd("fd", fd)
                .setBool("using_vnet_hdr", true)
                .setBool("has_ufo", queue % 2 == 0)
                .setBool("has_uso", false)
                .setBool("has_tunnel", queue % 3 == 0)
                .setBool("enabled", true)
                .setUint("host_vnet_hdr_len", 12);
    }

    public static Schema rss() {
        return Schema.builder("virtio-net-rss", 1)
                .u32("hash_types")
                .bytes("key", 40)
                .bytes("indirection", 0, 512)
                .build();
    }

    /**
     * A virtio-net schema at {@code version} (2 adds {@code mtu}) built at run time from its peers'
     * schemas: the frontend knows nothing of TAP.
     */
    public static Schema virtioNet(int version, IntFunction<Schema> peerSchema) {
        Schema nic = Schema.builder("virtio-net-nic", 1)
                .u32("max_queue_pairs")
                .varray("peers", "max_queue_pairs", peerSchema)
                .build();
        Schema.Builder b = Schema.builder("virtio-net", version)
                .bytes("mac", 6)
                .u16("status")
                .bool("promisc")
                .bool("allmulti")
                .u32("curr_queue_pairs")
                .u64("host_features")
                .u64("guest_features")
                .bytes("mac_table", 0, 64 * 6)
                .bool("rss_enabled")
                .group("rss", rss(), s -> s.getBool("rss_enabled"));
        if (version >= 2) {
            b.u16("mtu").since(2).defaultValue(1500L);
        }
        return b.subsection(nic, s -> s.subsection("virtio-net-nic") != null).build();
    }

    public static Schema virtioNet(int version) {
        Schema tap = netTap();
        return virtioNet(version, i -> tap);
    }

    /** A virtio-net state with {@code queuePairs} TAP peers, each with a fresh fake fd. */
    public static StateStruct virtioNetState(Schema schema, int queuePairs, FakeFds fds, int nic) {
        StateStruct s = schema.newStruct()
                .setBytes("mac", new byte[] {0x52, 0x54, 0, 0x12, 0x34, (byte) nic})
                .setUint("status", 1)
                .setBool("promisc", true)
                .setUint("curr_queue_pairs", queuePairs)
                .setUint("host_features", 0x8000_0000_0001_0000L)
                .setUint("guest_features", 0x1_0000_0000L)
                .setBytes("mac_table", new byte[12])
                .setBool("rss_enabled", nic % 2 == 0);
        if (nic % 2 == 0) {
            byte[] key = new byte[40];
            for (int i = 0; i < key.length; i++) {
                key[i] = (byte) (i * 7);
            }
            s.setStruct("rss", rss().newStruct().setUint("hash_types", 0x3F).setBytes("key", key)
                    .setBytes("indirection", new byte[128]));
        }
        if (schema.version() >= 2) {
            s.setUint("mtu", 9000);
        }
        Schema nicSchema = schema.subsections().get(0).schema();
        List<StateStruct> peers = new ArrayList<>();
        for (int q = 0; q < queuePairs; q++) {
            peers.add(netTapState(fds.open(), q));
        }
        s.setSubsection(nicSchema.newStruct().setUint("max_queue_pairs", queuePairs).setArray("peers", peers));
        return s;
    }

    /** What the kernel does to fds in transit: the receiver gets new descriptors for the same files. */
    public static Frame transfer(Frame sent) {
        List<OwnedFd> dups = new ArrayList<>();
        for (OwnedFd f : sent.fds()) {
            dups.add(f.dup());
        }
        return new Frame(sent.payload(), dups);
    }

    /** A frame's payload without its checksum trailer: the part a test edits on purpose. */
    public static byte[] body(Frame f) {
        return FrameChecksum.body(f.payload());
    }

    /**
     * {@code f}'s fds with {@code body} sealed by a fresh checksum: a frame whose content a test
     * changed on purpose but which was not damaged on the way (so the decoder's parser sees it).
     */
    public static Frame sealed(Frame f, byte[] body) {
        return new Frame(FrameChecksum.seal(body), f.fds());
    }

    /** Encodes a whole stream: header, the sections, end marker, description. */
    public static List<Frame> encode(List<Section> sections) {
        StreamEncoder enc = new StreamEncoder(StreamHeader.of(4242, "livetap-test", MACHINE));
        List<Frame> out = new ArrayList<>();
        out.add(enc.header());
        for (Section s : sections) {
            out.add(enc.section(s));
        }
        out.addAll(enc.trailer());
        return out;
    }

    /** Decodes every frame (transferred), then finishes; returns the loaded sections. */
    public static List<Section> decode(List<Frame> frames, SectionResolver resolver) {
        StreamDecoder dec = new StreamDecoder(resolver);
        List<Section> out = new ArrayList<>();
        try {
            for (Frame f : frames) {
                Section s = dec.accept(transfer(f));
                if (s != null) {
                    out.add(s);
                }
            }
            dec.finish();
        } catch (RuntimeException e) {
            out.forEach(Section::close);
            throw e;
        }
        return out;
    }
}
