package dev.livetap.actors.options;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import dev.livetap.codec.StreamEncoder;
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
 *   <li>{@code x-stream-format} (default: this build's own stream format, 2; 1 to 2): beyond
 *       QEMU, the stream format version a source writes, pinned to the previous one for a
 *       migration to the previous livetap build (a rollback; the policy in docs/stream-format.md,
 *       as a QEMU machine type pins what an older target can load). A target loads 1 to 2 whatever
 *       it is set to.</li>
 * </ul>
 * More parameters are added as components here plus one line each in {@link #apply} and
 * {@link #toQmp}.
 */
public record MigrationParameters(boolean local, long downtimeLimitMs, long switchoverLimitMs, int streamFormat) {
    public static final String LOCAL = "local";
    /** The v10 name of {@code local}. */
    public static final String LOCAL_ALIAS = "backend-transfer";
    public static final String DOWNTIME_LIMIT = "downtime-limit";
    public static final String SWITCHOVER_LIMIT = "x-switchover-limit";
    public static final String STREAM_FORMAT = "x-stream-format";
    public static final String STREAM_FORMAT_RANGE = "a stream format version this build writes, "
            + StreamEncoder.OLDEST_FORMAT_VERSION + " to " + StreamEncoder.FORMAT_VERSION;
    public static final long DOWNTIME_LIMIT_DEFAULT_MS = 300;
    /** QEMU's MAX_MIGRATE_DOWNTIME: 2000 seconds. */
    public static final long LIMIT_MAX_MS = 2_000_000;
    public static final String LIMIT_RANGE = "an integer in the range of 0 to 2000000 ms";
    public static final String LOCAL_ALIAS_CONFLICT =
            "Parameters 'local' and 'backend-transfer' (its former name) are given different values";
    public static final List<String> NAMES = List.of(LOCAL, LOCAL_ALIAS, DOWNTIME_LIMIT, SWITCHOVER_LIMIT, STREAM_FORMAT);

    public MigrationParameters {
        checkLimit(DOWNTIME_LIMIT, downtimeLimitMs);
        checkLimit(SWITCHOVER_LIMIT, switchoverLimitMs);
        if (!StreamEncoder.writable(streamFormat)) {
            throw new OptionException("Parameter '" + STREAM_FORMAT + "' expects " + STREAM_FORMAT_RANGE);
        }
    }

    private static void checkLimit(String name, long ms) {
        if (ms < 0 || ms > LIMIT_MAX_MS) {
            throw new OptionException("Parameter '" + name + "' expects " + LIMIT_RANGE);
        }
    }

    /** QEMU's defaults: {@code local} off, {@code downtime-limit} 300 ms, no switch-over limit; this build's stream format. */
    public static MigrationParameters defaults() {
        return new MigrationParameters(false, DOWNTIME_LIMIT_DEFAULT_MS, 0, StreamEncoder.FORMAT_VERSION);
    }

    /**
     * A {@code migrate-set-parameters} call: the parameters it sets, each checked; the others keep
     * their value.
     */
    public record Update(Optional<Boolean> local, OptionalLong downtimeLimitMs, OptionalLong switchoverLimitMs,
            OptionalLong streamFormat) {
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
            OptionalLong format = v.integer(STREAM_FORMAT, StreamEncoder.OLDEST_FORMAT_VERSION,
                    StreamEncoder.FORMAT_VERSION, STREAM_FORMAT_RANGE);
            return new Update(local.or(() -> alias), downtime, switchover, format);
        }
    }

    /** The parameters after {@code update}. */
    public MigrationParameters apply(Update update) {
        return new MigrationParameters(
                update.local().orElse(this.local),
                update.downtimeLimitMs().orElse(downtimeLimitMs),
                update.switchoverLimitMs().orElse(switchoverLimitMs),
                (int) update.streamFormat().orElse(streamFormat));
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
        out.put(STREAM_FORMAT, streamFormat);
        return out;
    }
}
