package dev.livetap.actors.options;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Migration parameters ({@code migrate-set-parameters} / {@code query-migrate-parameters}).
 *
 * <ul>
 *   <li>{@code local} (bool, default false): transfer backends such as the TAP with their open
 *       fds; needs a UNIX socket channel ({@link MigrationUri#requireChannelFor}). The v10 name
 *       {@code backend-transfer} is accepted as an alias when setting; it is always reported as
 *       {@code local}.</li>
 *   <li>{@code downtime-limit} (ms, default 300, 0 to 2000000): QEMU's meaning, the downtime
 *       the source aims at when deciding to switch over.</li>
 *   <li>{@code x-switchover-limit} (ms, default 0 = off, 0 to 2000000): beyond QEMU, a
 *       switch-over that would take longer is aborted and rolled back.</li>
 * </ul>
 * More parameters are added as components here plus one line each in {@link #apply} and
 * {@link #toQmp}.
 */
public record MigrationParameters(boolean local, long downtimeLimitMs, long switchoverLimitMs) {
    public static final String LOCAL = "local";
    /** The v10 name of {@code local}. */
    public static final String LOCAL_ALIAS = "backend-transfer";
    public static final String DOWNTIME_LIMIT = "downtime-limit";
    public static final String SWITCHOVER_LIMIT = "x-switchover-limit";
    public static final long DOWNTIME_LIMIT_DEFAULT_MS = 300;
    /** QEMU's MAX_MIGRATE_DOWNTIME: 2000 seconds. */
    public static final long LIMIT_MAX_MS = 2_000_000;
    public static final String LIMIT_RANGE = "an integer in the range of 0 to 2000000 ms";
    public static final String LOCAL_ALIAS_CONFLICT =
            "Parameters 'local' and 'backend-transfer' (its former name) are given different values";
    public static final List<String> NAMES = List.of(LOCAL, LOCAL_ALIAS, DOWNTIME_LIMIT, SWITCHOVER_LIMIT);

    public MigrationParameters {
        checkLimit(DOWNTIME_LIMIT, downtimeLimitMs);
        checkLimit(SWITCHOVER_LIMIT, switchoverLimitMs);
    }

    private static void checkLimit(String name, long ms) {
        if (ms < 0 || ms > LIMIT_MAX_MS) {
            throw new OptionException("Parameter '" + name + "' expects " + LIMIT_RANGE);
        }
    }

    /** QEMU's defaults: {@code local} off, {@code downtime-limit} 300 ms, no switch-over limit. */
    public static MigrationParameters defaults() {
        return new MigrationParameters(false, DOWNTIME_LIMIT_DEFAULT_MS, 0);
    }

    /**
     * A {@code migrate-set-parameters} call: the parameters it sets, each checked; the others keep
     * their value.
     */
    public record Update(Optional<Boolean> local, OptionalLong downtimeLimitMs, OptionalLong switchoverLimitMs) {
        /** Every given value is checked here, so a rejected call changes nothing. */
        public static Update fromQmp(Map<String, ?> qmpArguments) {
            OptionValues v = OptionValues.ofQmp(qmpArguments);
            v.rejectUnknown(NAMES);
            Optional<Boolean> local = v.bool(LOCAL);
            Optional<Boolean> alias = v.bool(LOCAL_ALIAS);
            if (local.isPresent() && alias.isPresent() && !local.get().equals(alias.get())) {
                throw new OptionException(LOCAL_ALIAS_CONFLICT);
            }
            OptionalLong downtime = v.integer(DOWNTIME_LIMIT, 0, LIMIT_MAX_MS, LIMIT_RANGE);
            OptionalLong switchover = v.integer(SWITCHOVER_LIMIT, 0, LIMIT_MAX_MS, LIMIT_RANGE);
            return new Update(local.or(() -> alias), downtime, switchover);
        }
    }

    /** The parameters after {@code update}. */
    public MigrationParameters apply(Update update) {
        return new MigrationParameters(
                update.local().orElse(this.local),
                update.downtimeLimitMs().orElse(downtimeLimitMs),
                update.switchoverLimitMs().orElse(switchoverLimitMs));
    }

    /**
     * {@code migrate-set-parameters}: a partial update. Every given value is checked before any
     * is applied, so a rejected call changes nothing (the caller keeps {@code this}).
     */
    public MigrationParameters apply(Map<String, ?> qmpArguments) {
        return apply(Update.fromQmp(qmpArguments));
    }

    /** True when a switch-over limit is set ({@code x-switchover-limit} above 0). */
    public boolean hasSwitchoverLimit() {
        return switchoverLimitMs > 0;
    }

    /** {@code query-migrate-parameters}: every parameter under its current name. */
    public Map<String, Object> toQmp() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put(LOCAL, local);
        out.put(DOWNTIME_LIMIT, downtimeLimitMs);
        out.put(SWITCHOVER_LIMIT, switchoverLimitMs);
        return out;
    }
}
