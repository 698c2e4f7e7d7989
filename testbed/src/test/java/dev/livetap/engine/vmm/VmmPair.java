package dev.livetap.engine.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A source and an incoming target, real {@code livetap vmm} processes (no warm-up) in a network
 * namespace of the test's own, QMP connected. Closing ends both, removes the namespace (and with it
 * every TAP in it) and deletes the directory, also when the start failed half-way.
 */
final class VmmPair implements AutoCloseable {
    final Path dir;
    final NetworkNamespace ns;
    final VmmProcess source;
    final VmmProcess target;

    private VmmPair(Path dir, NetworkNamespace ns, VmmProcess source, VmmProcess target) {
        this.dir = dir;
        this.ns = ns;
        this.source = source;
        this.target = target;
    }

    static VmmPair start(String dirPrefix) throws Exception {
        Path dir = Files.createTempDirectory(dirPrefix);
        NetworkNamespace ns = null;
        VmmProcess source = null;
        try {
            ns = NetworkNamespace.create();
            source = VmmProcess.start(VmmProcess.Options.of(dir, "src").withPrefix(ns.wrap(List.of()))
                    .withArgs(List.of("--no-warm-up")));
            VmmProcess target = VmmProcess.start(VmmProcess.Options.of(dir, "tgt").withPrefix(ns.wrap(List.of()))
                    .withIncoming(true).withArgs(List.of("--no-warm-up")));
            VmmPair pair = new VmmPair(dir, ns, source, target);
            try {
                source.connect();
                target.connect();
            } catch (Exception | Error e) {
                pair.close();
                throw e;
            }
            return pair;
        } catch (Exception | Error e) {
            if (source != null) {
                source.close();
            }
            if (ns != null) {
                ns.close();
            }
            deleteTree(dir);
            throw e;
        }
    }

    /** Whether the interface exists in the pair's namespace. */
    boolean linkExists(String ifname) {
        return ns.exec(Duration.ofSeconds(10), "ip", "link", "show", ifname).ok();
    }

    /** {@code query-migrate} once its status is final (bounded by {@code within}). */
    static JsonNode awaitFinal(VmmProcess vmm, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        JsonNode info = null;
        while (System.nanoTime() < deadline) {
            info = vmm.execute("query-migrate");
            String status = info.path("status").asText();
            if (status.equals("completed") || status.equals("failed") || status.equals("cancelled")) {
                return info;
            }
            Thread.sleep(10);
        }
        throw new AssertionError(vmm.name() + ": no final migration status within " + within.toSeconds() + " s: " + info);
    }

    /** Polls {@code query-status} until the run state is {@code state} or {@code within} passed; the last one seen. */
    static String awaitRunState(VmmProcess vmm, String state, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        String last = vmm.runState();
        while (!last.equals(state) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            last = vmm.runState();
        }
        return last;
    }

    @Override
    public void close() throws IOException {
        // closed in reverse order: the target, the source, then the namespace; a failure of one still closes the rest
        try (NetworkNamespace n = ns; VmmProcess s = source; VmmProcess t = target) {
            assert n != null && s != null && t != null;
        } finally {
            deleteTree(dir);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
