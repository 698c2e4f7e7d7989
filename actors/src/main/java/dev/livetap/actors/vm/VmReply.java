package dev.livetap.actors.vm;

/**
 * The answer to every {@link VmActor} command: a QMP return value (a map, a list, or an empty map
 * for commands that return nothing) or a {@link QmpError}.
 */
public record VmReply(Object value, QmpError error) {
    public static VmReply ok(Object value) {
        return new VmReply(value, null);
    }

    public static VmReply ok() {
        return new VmReply(java.util.Map.of(), null);
    }

    public static VmReply error(QmpError e) {
        return new VmReply(null, e);
    }

    public boolean isOk() {
        return error == null;
    }
}
