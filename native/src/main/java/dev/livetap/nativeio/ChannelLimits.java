package dev.livetap.nativeio;

/** Limits the framing layer enforces on what it receives. */
public record ChannelLimits(int maxFrameBytes, int maxFdsPerFrame) {
    /** 16 MiB and 1,024 fds (256 queues x 4 fds would be the most a single NIC could need). */
    public static final ChannelLimits DEFAULT = new ChannelLimits(16 * 1024 * 1024, 1024);

    public ChannelLimits {
        if (maxFrameBytes <= 0 || maxFdsPerFrame < 0) {
            throw new IllegalArgumentException("limits must be positive: " + maxFrameBytes + ", " + maxFdsPerFrame);
        }
    }
}
