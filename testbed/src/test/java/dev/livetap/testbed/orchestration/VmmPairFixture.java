package dev.livetap.testbed.orchestration;

import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The set-up the driver's tests on real VMM processes share: a temporary directory, a network
 * namespace, and {@code livetap vmm} processes (without warm-up) started inside it, a source and
 * incoming targets. {@link #close()} deletes the namespace (which SIGKILLs what still runs there),
 * closes what was opened in reverse order (the VMMs, relays given to {@link #add}) and deletes the
 * directory.
 */
final class VmmPairFixture implements AutoCloseable {
    private final Path dir;
    private final NetworkNamespace ns;
    private final List<AutoCloseable> open = new ArrayList<>();

    private VmmPairFixture(Path dir, NetworkNamespace ns) {
        this.dir = dir;
        this.ns = ns;
    }

    /** A new directory named {@code prefix…} and a new namespace. */
    static VmmPairFixture create(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        try {
            return new VmmPairFixture(dir, NetworkNamespace.create());
        } catch (RuntimeException e) {
            Files.deleteIfExists(dir);
            throw e;
        }
    }

    Path dir() {
        return dir;
    }

    /** A source VMM named {@code name}, running, not yet connected. */
    VmmProcess source(String name) {
        return start(name, false, false);
    }

    /** An incoming target VMM named {@code name}; {@code paused}: started with -S. */
    VmmProcess target(String name, boolean paused) {
        return start(name, true, paused);
    }

    private VmmProcess start(String name, boolean incoming, boolean paused) {
        VmmProcess.Options options = VmmProcess.Options.of(dir, name).withPrefix(ns.wrap(List.of()))
                .withArgs(List.of("--no-warm-up"));
        if (incoming) {
            options = options.withIncoming(true);
        }
        if (paused) {
            options = options.withPaused(true);
        }
        return add(VmmProcess.start(options));
    }

    /** Closed by {@link #close()}, after everything added before it. */
    <T extends AutoCloseable> T add(T closeable) {
        open.add(closeable);
        return closeable;
    }

    @Override
    public void close() throws Exception {
        try {
            ns.close();
        } finally {
            for (int i = open.size() - 1; i >= 0; i--) {
                open.get(i).close();
            }
            try (var l = Files.list(dir)) {
                for (Path p : l.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }
}
