package dev.livetap.engine.api;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A change of migration parameters ({@code migrate-set-parameters}): what is present changes, the
 * rest stays. Start from {@link #none()}.
 *
 * @param local             QEMU's {@code local}
 * @param downtimeLimitMs   QEMU's {@code downtime-limit}
 * @param switchoverLimitMs livetap's {@code x-switchover-limit} (0: off)
 */
public record MigrationParameterUpdate(Optional<Boolean> local, OptionalLong downtimeLimitMs,
        OptionalLong switchoverLimitMs) {

    /** Checks only for absent members; ranges are checked by the VM, with QEMU's texts. */
    public MigrationParameterUpdate {
        Objects.requireNonNull(local, "local");
        Objects.requireNonNull(downtimeLimitMs, "downtimeLimitMs");
        Objects.requireNonNull(switchoverLimitMs, "switchoverLimitMs");
    }

    /** Changes nothing. */
    public static MigrationParameterUpdate none() {
        return new MigrationParameterUpdate(Optional.empty(), OptionalLong.empty(), OptionalLong.empty());
    }

    /** {@code local=on|off}. */
    public MigrationParameterUpdate local(boolean on) {
        return new MigrationParameterUpdate(Optional.of(on), downtimeLimitMs, switchoverLimitMs);
    }

    /** {@code downtime-limit}. */
    public MigrationParameterUpdate downtimeLimitMs(long ms) {
        return new MigrationParameterUpdate(local, OptionalLong.of(ms), switchoverLimitMs);
    }

    /** {@code x-switchover-limit}. */
    public MigrationParameterUpdate switchoverLimitMs(long ms) {
        return new MigrationParameterUpdate(local, downtimeLimitMs, OptionalLong.of(ms));
    }
}
