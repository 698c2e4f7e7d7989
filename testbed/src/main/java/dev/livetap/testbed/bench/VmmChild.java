package dev.livetap.testbed.bench;

import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code livetap vmm} child JVM started inside the bench's namespace (design decision 6) with
 * this JVM's java binary and class path. {@link #close()} ends it (SIGTERM, then SIGKILL).
 */
final class VmmChild implements AutoCloseable {
    final String name;
    private final Process process;
    private final Path stderr;
    private int ready;

    private final Thread hook;

    private VmmChild(String name, Process process, Path stderr) {
        this.name = name;
        this.process = process;
        this.stderr = stderr;
        // a bench stopped by a signal must not leave VMM processes behind
        this.hook = new Thread(process::destroyForcibly, "vmm-child-kill-" + name);
        Runtime.getRuntime().addShutdownHook(hook);
    }

    static VmmChild start(NetworkNamespace ns, Path dir, String name, List<String> jvmOptions, List<String> vmmArgs) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java));
        String jna = System.getProperty("jna.tmpdir");
        if (jna != null) {
            cmd.add("-Djna.tmpdir=" + jna);
        }
        for (String opt : jvmOptions) {
            cmd.add(opt.replace("{name}", name)); // e.g. one JFR file per child
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), dev.livetap.testbed.launch.ChildLaunch.VMM_MAIN_CLASS, "vmm"));
        cmd.addAll(vmmArgs);
        Path err = dir.resolve(name + ".stderr");
        Process p = new ProcessBuilder(ns.wrap(cmd)).redirectError(err.toFile()).start();
        return new VmmChild(name, p, err);
    }

    /** Waits for {@code n} READY lines in total on stdout. */
    void awaitReady(int n, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                if (ready < n) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException done) {
                // ready in time
            }
        }, "ready-watchdog-" + name);
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            while (ready < n) {
                String line = r.readLine();
                if (line == null) {
                    throw new IOException(name + " exited before READY (" + ready + "/" + n + "): " + stderrTail());
                }
                if (line.startsWith("READY ")) {
                    ready++;
                }
            }
        } finally {
            watchdog.interrupt();
        }
        // keep draining stdout so the child never blocks on a full pipe
        Thread drain = new Thread(() -> {
            try {
                while (r.readLine() != null) {
                    // discard
                }
            } catch (IOException ignored) {
                // closed
            }
        }, "stdout-" + name);
        drain.setDaemon(true);
        drain.start();
    }

    /** Writes {@code jstack} of the child next to its stderr (diagnosis of a stuck hop); returns the path. */
    Path dumpThreads() {
        Path out = stderr.resolveSibling(name + ".jstack");
        try {
            java.nio.file.Files.writeString(out, HostCommand.check(Duration.ofSeconds(20), "jstack", String.valueOf(process.pid())));
        } catch (IOException e) {
            return null;
        }
        return out;
    }

    long pid() {
        return process.pid();
    }

    /** The JVM's pid inside {@code ip netns exec} (exec replaces the ip process, so it is the same). */
    String stderrTail() {
        try {
            String s = java.nio.file.Files.readString(stderr);
            return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
        } catch (IOException e) {
            return "(no stderr)";
        }
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook kills it
        }
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
