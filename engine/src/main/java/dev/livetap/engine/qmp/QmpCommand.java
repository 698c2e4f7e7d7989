package dev.livetap.engine.qmp;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A registered QMP command: name, argument schema, handler.
 *
 * @param extraArgs whether undeclared arguments are accepted unchecked (device_add's properties)
 * @param acceptsFds whether fds arriving with the message go to the handler (getfd); otherwise
 *     they are closed
 * @param allowedBeforeNegotiation only qmp_capabilities
 */
public record QmpCommand(String name, List<QmpArg> args, boolean extraArgs, boolean acceptsFds,
        boolean allowedBeforeNegotiation, QmpHandler handler) {
    public QmpCommand {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(handler, "handler");
        args = List.copyOf(args);
        if (name.isEmpty()) {
            throw new IllegalArgumentException("empty command name");
        }
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** Fluent construction: {@code QmpCommand.builder("netdev_del").arg(required("id", STR)).handler(h)}. */
    public static final class Builder {
        private final String name;
        private final List<QmpArg> args = new ArrayList<>();
        private boolean extraArgs;
        private boolean acceptsFds;
        private boolean beforeNegotiation;

        private Builder(String name) {
            this.name = name;
        }

        public Builder arg(QmpArg arg) {
            args.add(arg);
            return this;
        }

        public Builder args(QmpArg... more) {
            args.addAll(List.of(more));
            return this;
        }

        public Builder extraArgs() {
            extraArgs = true;
            return this;
        }

        public Builder acceptsFds() {
            acceptsFds = true;
            return this;
        }

        Builder allowedBeforeNegotiation() {
            beforeNegotiation = true;
            return this;
        }

        public QmpCommand handler(QmpHandler handler) {
            return new QmpCommand(name, args, extraArgs, acceptsFds, beforeNegotiation, handler);
        }
    }
}
