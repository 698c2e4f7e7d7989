package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MigrationUriTest {
    @Test
    void parsesQemuForms() {
        assertEquals(new MigrationUri.Unix("/run/mig.sock"), MigrationUri.parse("unix:/run/mig.sock"));
        assertEquals(new MigrationUri.Tcp("127.0.0.1", 4444), MigrationUri.parse("tcp:127.0.0.1:4444"));
        assertEquals(new MigrationUri.Tcp("::1", 4444), MigrationUri.parse("tcp:[::1]:4444"));
        assertEquals(new MigrationUri.Fd("migfd"), MigrationUri.parse("fd:migfd"));
        assertEquals(new MigrationUri.Exec("cat > /tmp/x"), MigrationUri.parse("exec:cat > /tmp/x"));
        assertEquals(new MigrationUri.File("/tmp/state"), MigrationUri.parse("file:/tmp/state"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"unix:/run/mig.sock", "tcp:127.0.0.1:4444", "tcp:[::1]:4444", "fd:migfd", "exec:cat", "file:/x"})
    void printsWhatItParsed(String uri) {
        assertEquals(uri, MigrationUri.parse(uri).uri());
    }

    @Test
    void malformed() {
        assertRejected("unknown migration protocol: rdma:1.2.3.4:5", () -> MigrationUri.parse("rdma:1.2.3.4:5"));
        assertRejected("unknown migration protocol: /tmp/sock", () -> MigrationUri.parse("/tmp/sock"));
        assertRejected("unix: URI needs a socket path (unix:PATH)", () -> MigrationUri.parse("unix:"));
        assertRejected("tcp: URI needs HOST:PORT; got 'tcp:host'", () -> MigrationUri.parse("tcp:host"));
        assertRejected("tcp: URI port must be a number; got 'http'", () -> MigrationUri.parse("tcp:host:http"));
        assertRejected("tcp: URI port must be 0 to 65535; got 65536", () -> MigrationUri.parse("tcp:host:65536"));
        assertRejected("tcp: URI needs a host (tcp:HOST:PORT)", () -> MigrationUri.parse("tcp::4444"));
        assertRejected("fd: URI needs a descriptor name (fd:NAME)", () -> MigrationUri.parse("fd:"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp:127.0.0.1:4444", "exec:cat", "file:/x"})
    void localRequiresAUnixSocket(String uri) {
        MigrationParameters local = MigrationParameters.defaults().apply(java.util.Map.of("local", true));
        assertRejected("local migration requires a UNIX socket channel (unix:PATH); got " + uri,
                () -> MigrationUri.requireChannelFor(local, MigrationUri.parse(uri)));
        MigrationUri.requireChannelFor(MigrationParameters.defaults(), MigrationUri.parse(uri));
    }

    @Test
    void localOverUnixIsFine() {
        MigrationParameters local = MigrationParameters.defaults().apply(java.util.Map.of("backend-transfer", true));
        MigrationUri.requireChannelFor(local, MigrationUri.parse("unix:/run/mig.sock"));
        // fd: passes here: the VM checks that its descriptor is an AF_UNIX stream socket (design semantic 1)
        MigrationUri.requireChannelFor(local, MigrationUri.parse("fd:migfd"));
    }
}
