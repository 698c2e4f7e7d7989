package dev.livetap.testbed.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A private network namespace {@code livetap-b<pid>-<n>} with {@code lo} up: every TAP of a
 * benchmark lives in one, never on the host's interfaces. {@link #close()} deletes it (also from
 * a shutdown hook); leftovers of dead bench processes are removed on the next start.
 */
final class Netns implements AutoCloseable {
    static final String PREFIX = "livetap-b";
    private static final AtomicInteger COUNTER = new AtomicInteger();
    final String name;
    private boolean closed;
    private final Thread hook;

    private Netns(String name) {
        this.name = name;
        this.hook = new Thread(this::delete, "netns-cleanup-" + name);
        Runtime.getRuntime().addShutdownHook(hook);
    }

    static Netns create() throws IOException {
        cleanupStale();
        String name = PREFIX + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        run("ip", "netns", "add", name);
        Netns ns = new Netns(name);
        try {
            ns.exec("ip", "link", "set", "lo", "up");
        } catch (IOException | RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    /** {@code ip netns exec NAME cmd...}. */
    List<String> wrap(List<String> cmd) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(cmd);
        return full;
    }

    String exec(String... cmd) throws IOException {
        return run(wrap(List.of(cmd)).toArray(String[]::new));
    }

    static String run(String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + ": timed out");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out.trim());
        }
        return out;
    }

    private synchronized void delete() {
        if (!closed) {
            closed = true;
            try {
                run("ip", "netns", "del", name);
            } catch (IOException ignored) {
                // already gone
            }
        }
    }

    @Override
    public void close() {
        delete();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
    }

    /** Deletes {@code livetap-b<pid>-<n>} namespaces whose bench process is gone. */
    static void cleanupStale() {
        try {
            for (String line : run("ip", "netns", "list").split("\n")) {
                String ns = line.trim().split("\\s+")[0];
                if (ns.startsWith(PREFIX)) {
                    String pid = ns.substring(PREFIX.length()).split("-")[0];
                    if (pid.chars().allMatch(Character::isDigit) && !pid.isEmpty() && !Files.exists(Path.of("/proc", pid))) {
                        run("ip", "netns", "del", ns);
                    }
                }
            }
        } catch (IOException ignored) {
            // best effort
        }
    }
}
