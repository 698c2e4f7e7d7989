package dev.livetap.nativeio;

import java.util.List;

/**
 * One message of the framing layer: payload bytes plus the fds that travelled with it, in
 * order. A received frame owns its fds: whoever takes it closes them or passes them on.
 */
public record Frame(byte[] payload, List<OwnedFd> fds) implements AutoCloseable {
    public Frame {
        payload = payload.clone();
        fds = List.copyOf(fds);
    }

    public static Frame of(byte[] payload) {
        return new Frame(payload, List.of());
    }

    /** Closes every fd still open in this frame. */
    @Override
    public void close() {
        OwnedFd.closeAll(fds);
    }
}
