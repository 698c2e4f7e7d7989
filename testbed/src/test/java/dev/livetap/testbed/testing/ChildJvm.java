package dev.livetap.testbed.testing;

import dev.livetap.testbed.NetworkNamespace;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A second JVM running {@code MainClass} with this JVM's class path, optionally started inside
 * a {@link NetworkNamespace} (design decision 6: a process that opens TAPs starts inside its
 * namespace). Output goes to files, so a chatty child can never block on a full pipe; every wait
 * is bounded and {@link #close()} kills the child if it is still running.
 */
public final class ChildJvm implements AutoCloseable {
    private final Process process;
    private final List<String> command;
    private final Path stdout;
    private final Path stderr;

    private ChildJvm(Process process, List<String> command, Path stdout, Path stderr) {
        this.process = process;
        this.command = command;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    public static Builder builder(Class<?> mainClass) {
        return new Builder(mainClass);
    }

    /** Configures and starts a child JVM. */
    public static final class Builder {
        private final Class<?> mainClass;
        private final List<String> args = new ArrayList<>();
        private final List<String> jvmOptions = new ArrayList<>();
        private NetworkNamespace netns;

        private Builder(Class<?> mainClass) {
            this.mainClass = mainClass;
        }

        public Builder args(String... values) {
            args.addAll(Arrays.asList(values));
            return this;
        }

        public Builder jvmOption(String option) {
            jvmOptions.add(option);
            return this;
        }

        /** Starts the child inside {@code ns} with {@code ip netns exec}. */
        public Builder inNetns(NetworkNamespace ns) {
            this.netns = ns;
            return this;
        }

        public ChildJvm start() {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            String jnaTmp = System.getProperty("jna.tmpdir", Path.of(System.getProperty("java.io.tmpdir"), "livetap-jna").toString());
            List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
                    "-Djna.tmpdir=" + jnaTmp, "-Xss1m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
            cmd.addAll(jvmOptions);
            cmd.add(mainClass.getName());
            cmd.addAll(args);
            if (netns != null) {
                cmd = netns.wrap(cmd);
            }
            try {
                Files.createDirectories(Path.of(jnaTmp));
                Path out = Files.createTempFile("livetap-child", ".out");
                Path err = Files.createTempFile("livetap-child", ".err");
                Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
                return new ChildJvm(p, List.copyOf(cmd), out, err);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot start child JVM " + cmd, e);
            }
        }
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Waits for the exit; throws IllegalStateException with the child's output if it does not exit in time. */
    public int waitFor(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("child JVM did not exit within " + timeout + ": " + describe());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for the child JVM", e);
        }
        return process.exitValue();
    }

    /** Polls stdout until it contains {@code text}; false if the child exits or {@code timeout} passes first. */
    public boolean awaitOutput(String text, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (stdout().contains(text)) {
                return true;
            }
            if (!process.isAlive()) {
                return stdout().contains(text);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    public String stdout() {
        return read(stdout);
    }

    public String stderr() {
        return read(stderr);
    }

    /** The command line, exit state and output, for assertion messages. */
    public String describe() {
        return String.join(" ", command) + (process.isAlive() ? " (running)" : " (exit " + process.exitValue() + ")")
                + "\n--- stdout ---\n" + stdout() + "--- stderr ---\n" + stderr();
    }

    /** Kills the child if it still runs (bounded), then removes its output files. */
    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                process.destroyForcibly();
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("child JVM " + process.pid() + " survived SIGKILL for 10 s");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                Files.deleteIfExists(stdout);
                Files.deleteIfExists(stderr);
            } catch (IOException e) {
                System.err.println("cannot delete child JVM output files: " + e);
            }
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<cannot read " + file + ": " + e + ">";
        }
    }
}
