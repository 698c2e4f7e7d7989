package dev.livetap.codec;

import java.util.Objects;

/**
 * One device's state in the stream: the section name (QEMU's idstr), the instance id that tells
 * equal devices apart, the version its payload was written at, and the value. A loaded section
 * owns the fds in its struct; {@link #close()} closes them.
 */
public record Section(String name, int instanceId, int version, StateStruct struct) implements AutoCloseable {
    public Section {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(struct, "struct");
        if (name.isEmpty() || instanceId < 0 || version < 1) {
            throw new IllegalArgumentException("bad section " + name + " instance " + instanceId + " version " + version);
        }
    }

    /** A section to save, named after its schema, at the schema's version. */
    public static Section of(int instanceId, StateStruct struct) {
        return new Section(struct.schema().name(), instanceId, struct.schema().version(), struct);
    }

    /** A section to save under a name other than its schema's (e.g. a device path). */
    public static Section of(String name, int instanceId, StateStruct struct) {
        return new Section(name, instanceId, struct.schema().version(), struct);
    }

    /** Closes every fd of the struct (for a loaded section that will not be used). */
    @Override
    public void close() {
        struct.closeFds();
    }
}
