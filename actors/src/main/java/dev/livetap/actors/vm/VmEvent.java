package dev.livetap.actors.vm;

import java.util.Map;

/**
 * A QMP event of one VM endpoint: {@code MIGRATION} ({@code {"status": …}}), {@code STOP},
 * {@code RESUME}. {@code atNanos} is the endpoint's monotonic clock.
 */
public record VmEvent(String event, Map<String, Object> data, long atNanos) {
    public static final String MIGRATION = "MIGRATION";
    public static final String STOP = "STOP";
    public static final String RESUME = "RESUME";

    public VmEvent {
        data = Map.copyOf(data);
    }
}
