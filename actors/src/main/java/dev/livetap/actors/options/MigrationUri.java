package dev.livetap.actors.options;

/**
 * The channel of a {@code migrate} / {@code migrate-incoming} command, parsed from QEMU's URI
 * forms: {@code unix:PATH}, {@code tcp:HOST:PORT} (HOST may be {@code [v6]}), {@code fd:NAME},
 * {@code exec:COMMAND}, {@code file:PATH}.
 */
public sealed interface MigrationUri {
    /** An AF_UNIX stream socket at a filesystem path: the only channel that carries fds. */
    record Unix(String path) implements MigrationUri {
        public Unix {
            if (path == null || path.isEmpty()) {
                throw new OptionException("unix: URI needs a socket path (unix:PATH)");
            }
        }

        @Override
        public String uri() {
            return "unix:" + path;
        }
    }

    record Tcp(String host, int port) implements MigrationUri {
        public Tcp {
            if (host == null || host.isEmpty()) {
                throw new OptionException("tcp: URI needs a host (tcp:HOST:PORT)");
            }
            if (port < 0 || port > 65535) {
                throw new OptionException("tcp: URI port must be 0 to 65535; got " + port);
            }
        }

        @Override
        public String uri() {
            return "tcp:" + (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
        }
    }

    /** A descriptor passed earlier with {@code getfd}, by name (or number). */
    record Fd(String name) implements MigrationUri {
        public Fd {
            if (name == null || name.isEmpty()) {
                throw new OptionException("fd: URI needs a descriptor name (fd:NAME)");
            }
        }

        @Override
        public String uri() {
            return "fd:" + name;
        }
    }

    record Exec(String command) implements MigrationUri {
        public Exec {
            if (command == null || command.isEmpty()) {
                throw new OptionException("exec: URI needs a command (exec:COMMAND)");
            }
        }

        @Override
        public String uri() {
            return "exec:" + command;
        }
    }

    record File(String path) implements MigrationUri {
        public File {
            if (path == null || path.isEmpty()) {
                throw new OptionException("file: URI needs a path (file:PATH)");
            }
        }

        @Override
        public String uri() {
            return "file:" + path;
        }
    }

    /** The URI text, as QEMU would print it. */
    String uri();

    /** Parses a migration URI; QEMU's "unknown migration protocol: URI" for other schemes. */
    static MigrationUri parse(String uri) {
        if (uri == null) {
            throw OptionValues.missing("uri");
        }
        int colon = uri.indexOf(':');
        String scheme = colon < 0 ? uri : uri.substring(0, colon);
        String rest = colon < 0 ? "" : uri.substring(colon + 1);
        switch (scheme) {
            case "unix":
                return new Unix(rest);
            case "tcp":
                return parseTcp(rest);
            case "fd":
                return new Fd(rest);
            case "exec":
                return new Exec(rest);
            case "file":
                return new File(rest);
            default:
                throw new OptionException("unknown migration protocol: " + uri);
        }
    }

    private static Tcp parseTcp(String rest) {
        String host;
        String port;
        if (rest.startsWith("[")) {
            int close = rest.indexOf(']');
            if (close < 0 || close + 1 >= rest.length() || rest.charAt(close + 1) != ':') {
                throw new OptionException("tcp: URI needs HOST:PORT; got 'tcp:" + rest + "'");
            }
            host = rest.substring(1, close);
            port = rest.substring(close + 2);
        } else {
            int last = rest.lastIndexOf(':');
            if (last < 0) {
                throw new OptionException("tcp: URI needs HOST:PORT; got 'tcp:" + rest + "'");
            }
            host = rest.substring(0, last);
            port = rest.substring(last + 1);
        }
        if (!port.matches("[0-9]{1,5}")) {
            throw new OptionException("tcp: URI port must be a number; got '" + port + "'");
        }
        return new Tcp(host, Integer.parseInt(port));
    }

    /** The text of the error {@link #requireChannelFor} raises for {@code uri}. */
    static String localNeedsUnixSocket(MigrationUri uri) {
        return "local migration requires a UNIX socket channel (unix:PATH); got " + uri.uri();
    }

    /**
     * {@code migrate} with {@code local} on needs a UNIX socket (only it carries SCM_RIGHTS):
     * any other channel fails at once, before anything changes. {@code fd:} passes here; the VM
     * checks that its descriptor is an AF_UNIX stream socket.
     */
    static void requireChannelFor(MigrationParameters parameters, MigrationUri uri) {
        if (parameters.local() && !(uri instanceof Unix) && !(uri instanceof Fd)) {
            throw new OptionException(localNeedsUnixSocket(uri),
                    "Use a unix: URI, or set migration parameter 'local' to false");
        }
    }
}
