package dev.livetap.codec;

import java.util.Objects;

/**
 * The first frame's content: the stream format version, who sent it (pid and a process name,
 * for logs and the dumper) and the machine type both sides must agree on.
 */
public record StreamHeader(int formatVersion, long pid, String processName, String machineType) {
    public StreamHeader {
        Objects.requireNonNull(processName, "processName");
        Objects.requireNonNull(machineType, "machineType");
    }

    /** A header for a stream written now, at {@link StreamEncoder#FORMAT_VERSION}. */
    public static StreamHeader of(long pid, String processName, String machineType) {
        return new StreamHeader(StreamEncoder.FORMAT_VERSION, pid, processName, machineType);
    }

    /** The same header at format {@code version} (an older one for a build that loads only that). */
    public StreamHeader atFormat(int version) {
        return new StreamHeader(version, pid, processName, machineType);
    }
}
