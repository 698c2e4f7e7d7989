package dev.livetap.actors;

import java.util.Map;
import java.util.function.Supplier;
import org.slf4j.MDC;

/**
 * The migration id in the MDC ({@value #KEY}) of the lines a device logs for a migration: the
 * messages a migration role sends its NICs, and those the NICs send their queues, carry the id
 * ({@link Tagged}); the device puts it in the MDC while it handles them.
 */
public final class MigrationMdc {
    /** The MDC key every log line of a migration carries. */
    public static final String KEY = "migrationId";

    /** A message sent for a migration; {@code migrationId} is null when none is in progress. */
    public interface Tagged {
        String migrationId();
    }

    private MigrationMdc() {
    }

    /** The migration id in this thread's MDC, or null. */
    public static String current() {
        return MDC.get(KEY);
    }

    /** The MDC of one message: its migration id, if it carries one. */
    public static Map<String, String> of(Object message) {
        if (message instanceof Tagged t && t.migrationId() != null) {
            return Map.of(KEY, t.migrationId());
        }
        return Map.of();
    }

    /** The migration id a message carries ({@link Tagged}), or null. */
    public static String idOf(Object message) {
        return message instanceof Tagged t ? t.migrationId() : null;
    }

    /** Puts {@code migrationId} (not null) in the MDC; the value it replaced, for {@link #leave}. */
    public static String enter(String migrationId) {
        String before = MDC.get(KEY);
        MDC.put(KEY, migrationId);
        return before;
    }

    /** Restores the value {@link #enter} returned. */
    public static void leave(String before) {
        if (before == null) {
            MDC.remove(KEY);
        } else {
            MDC.put(KEY, before);
        }
    }

    /** Runs {@code body} with {@code migrationId} (if not null) in the MDC, restoring the previous value after. */
    public static <T> T with(String migrationId, Supplier<T> body) {
        if (migrationId == null) {
            return body.get();
        }
        String before = enter(migrationId);
        try {
            return body.get();
        } finally {
            leave(before);
        }
    }
}
