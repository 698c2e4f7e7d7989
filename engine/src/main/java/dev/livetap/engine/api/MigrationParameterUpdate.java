package dev.livetap.engine.api;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * A change of migration parameters ({@code migrate-set-parameters}): what is present changes, the
 * rest stays. Start from {@link #none()}.
 *
 * @param local             QEMU's {@code local}
 * @param downtimeLimitMs   QEMU's {@code downtime-limit}
 * @param switchoverLimitMs livetap's {@code x-switchover-limit} (0: off)
 * @param streamFormat      livetap's {@code x-stream-format}: the stream format version written as a source
 */
public record MigrationParameterUpdate(Optional<Boolean> local, OptionalLong downtimeLimitMs,
        OptionalLong switchoverLimitMs, OptionalInt streamFormat) {

    /** Checks only for absent members; ranges are checked by the VM, with QEMU's texts. */
    public MigrationParameterUpdate {
        Objects.requireNonNull(local, "local");
        Objects.requireNonNull(downtimeLimitMs, "downtimeLimitMs");
        Objects.requireNonNull(switchoverLimitMs, "switchoverLimitMs");
        Objects.requireNonNull(streamFormat, "streamFormat");
    }

    /** The 0.2.0 form: the stream format unchanged. */
    public MigrationParameterUpdate(Optional<Boolean> local, OptionalLong downtimeLimitMs, OptionalLong switchoverLimitMs) {
        this(local, downtimeLimitMs, switchoverLimitMs, OptionalInt.empty());
    }

    /** Changes nothing. */
    public static MigrationParameterUpdate none() {
        return new MigrationParameterUpdate(Optional.empty(), OptionalLong.empty(), OptionalLong.empty(), OptionalInt.empty());
    }

    /** {@code local=on|off}. */
    public MigrationParameterUpdate local(boolean on) {
        return new MigrationParameterUpdate(Optional.of(on), downtimeLimitMs, switchoverLimitMs, streamFormat);
    }

    /** {@code downtime-limit}. */
    public MigrationParameterUpdate downtimeLimitMs(long ms) {
        return new MigrationParameterUpdate(local, OptionalLong.of(ms), switchoverLimitMs, streamFormat);
    }

    /** {@code x-switchover-limit}. */
    public MigrationParameterUpdate switchoverLimitMs(long ms) {
        return new MigrationParameterUpdate(local, downtimeLimitMs, OptionalLong.of(ms), streamFormat);
    }

    /** {@code x-stream-format}: the previous format version for a migration to the previous build (a rollback). */
    public MigrationParameterUpdate streamFormat(int version) {
        return new MigrationParameterUpdate(local, downtimeLimitMs, switchoverLimitMs, OptionalInt.of(version));
    }
}
