package dev.livetap.actors.tap;

import dev.livetap.nativeio.OwnedFd;

/**
 * The per-queue TAP section {@code net-tap} (design semantic 4). {@code fd} is null where QEMU
 * has fd = -1. In a {@code Saved} reply the fd is still owned by the source's TapActor (it is
 * only lent to the stream); in a {@code Load} the fd's ownership passes to the target's TapActor.
 */
public record NetTapState(
        OwnedFd fd,
        boolean usingVnetHdr,
        boolean hasUfo,
        boolean hasUso,
        boolean hasTunnel,
        boolean enabled,
        int hostVnetHdrLen) {

    public NetTapState {
        if (hostVnetHdrLen != 0 && hostVnetHdrLen != 10 && hostVnetHdrLen != 12) {
            throw new IllegalArgumentException("host_vnet_hdr_len must be 0, 10 or 12, not " + hostVnetHdrLen);
        }
    }
}
