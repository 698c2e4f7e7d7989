package dev.livetap.actors.tap;

import dev.livetap.codec.Schema;
import dev.livetap.codec.StateStruct;

/**
 * The production {@code net-tap} schema (design semantic 4): one TAP queue's state as it travels
 * in the {@code virtio-net-nic} subsection, and the conversion to and from {@link NetTapState}.
 * No codec hooks: pre_load ("already initialized"), the fd checks and post_load (vhost, read
 * polling) run in the {@link TapActor} when it receives the converted state, because they touch
 * the actor's own state.
 */
public final class NetTapSchema {
    public static final String NAME = "net-tap";
    public static final int VERSION = 1;

    public static final String FD = "fd";
    public static final String USING_VNET_HDR = "using_vnet_hdr";
    public static final String HAS_UFO = "has_ufo";
    public static final String HAS_USO = "has_uso";
    public static final String HAS_TUNNEL = "has_tunnel";
    public static final String ENABLED = "enabled";
    public static final String HOST_VNET_HDR_LEN = "host_vnet_hdr_len";

    /** The schema, in QEMU's field order. */
    public static final Schema SCHEMA = Schema.builder(NAME, VERSION)
            .fd(FD)
            .bool(USING_VNET_HDR)
            .bool(HAS_UFO)
            .bool(HAS_USO)
            .bool(HAS_TUNNEL)
            .bool(ENABLED)
            .u32(HOST_VNET_HDR_LEN)
            .build();

    private NetTapSchema() {
    }

    /** The struct to save; it borrows the fd (the source's TapActor keeps owning it). */
    public static StateStruct toStruct(NetTapState s) {
        return SCHEMA.newStruct()
                .setFd(FD, s.fd())
                .setBool(USING_VNET_HDR, s.usingVnetHdr())
                .setBool(HAS_UFO, s.hasUfo())
                .setBool(HAS_USO, s.hasUso())
                .setBool(HAS_TUNNEL, s.hasTunnel())
                .setBool(ENABLED, s.enabled())
                .setUint(HOST_VNET_HDR_LEN, s.hostVnetHdrLen());
    }

    /**
     * The state of a loaded struct; its fd passes with it. Throws {@link IllegalArgumentException}
     * for a struct of another schema or a host_vnet_hdr_len other than 0, 10 or 12 (the caller
     * closes the fd then).
     */
    public static NetTapState fromStruct(StateStruct s) {
        if (!NAME.equals(s.schema().name())) {
            throw new IllegalArgumentException("expected a " + NAME + " struct, got " + s.schema().name());
        }
        long len = s.getUint(HOST_VNET_HDR_LEN);
        if (len != 0 && len != 10 && len != 12) {
            throw new IllegalArgumentException("host_vnet_hdr_len must be 0, 10 or 12, not " + len);
        }
        return new NetTapState(s.getFd(FD), s.getBool(USING_VNET_HDR), s.getBool(HAS_UFO), s.getBool(HAS_USO),
                s.getBool(HAS_TUNNEL), s.getBool(ENABLED), (int) len);
    }
}
