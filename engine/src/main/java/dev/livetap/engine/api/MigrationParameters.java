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
}
