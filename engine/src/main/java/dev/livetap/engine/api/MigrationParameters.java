package dev.livetap.engine.api;

/**
 * The migration parameters of a VM ({@code query-migrate-parameters}).
 *
 * @param local              QEMU's {@code local} (alias {@code backend-transfer}): the TAP queue fds travel
 * @param downtimeLimitMs    QEMU's {@code downtime-limit}
 * @param switchoverLimitMs  livetap's {@code x-switchover-limit}: a switch-over longer than this rolls back; 0: off
 * @param streamFormat       livetap's {@code x-stream-format}: the stream format version this VM writes as a
 *                           source (this build's own, or the previous one for a rollback to the previous build)
 */
public record MigrationParameters(boolean local, long downtimeLimitMs, long switchoverLimitMs, int streamFormat) {
    /** This build's own stream format, the default of {@code x-stream-format}. */
    public static final int CURRENT_STREAM_FORMAT = dev.livetap.codec.StreamEncoder.FORMAT_VERSION;

    /** The 0.2.0 form: the stream format is this build's own. */
    public MigrationParameters(boolean local, long downtimeLimitMs, long switchoverLimitMs) {
        this(local, downtimeLimitMs, switchoverLimitMs, CURRENT_STREAM_FORMAT);
    }
}
