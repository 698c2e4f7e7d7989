package dev.livetap.testbed;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

/**
 * A child process with stdout and stderr in files (a chatty child never blocks on a full pipe),
 * bounded waits, and {@link #close()} that kills and reaps it.
 */
public final class ChildProcess implements AutoCloseable {
    private static final Duration REAP = Duration.ofSeconds(10);

    private final Process process;
    private final List<String> command;
    private final Path stdout;
    private final Path stderr;

    private ChildProcess(Process process, List<String> command, Path stdout, Path stderr) {
        this.process = process;
        this.command = command;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    /** Starts {@code command} with its output in {@code dir/label.out} and {@code dir/label.err}. */
    public static ChildProcess start(List<String> command, Path dir, String label) {
        Path out = dir.resolve(label + ".out");
        Path err = dir.resolve(label + ".err");
        try {
            Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            return new ChildProcess(p, List.copyOf(command), out, err);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    /** An executable named {@code name} on the PATH. */
    public static Optional<Path> findOnPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String d : path.split(File.pathSeparator)) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /**
     * {@code unshare -n -- command} when running as root with {@code unshare} available: the child
     * gets an empty network namespace of its own (gone with the process, nothing to clean up), so
     * whatever it opens stays off the host's network. Unchanged otherwise.
     */
    public static List<String> inPrivateNetns(List<String> command) {
        if (!"root".equals(System.getProperty("user.name")) || findOnPath("unshare").isEmpty()) {
            return command;
        }
        List<String> wrapped = new ArrayList<>(List.of("unshare", "-n", "--"));
        wrapped.addAll(command);
        return wrapped;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The exit code once the process has ended within {@code timeout}; empty while it runs. */
    public OptionalInt awaitExit(Duration timeout) {
        try {
            if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return OptionalInt.of(process.exitValue());
            }
            return OptionalInt.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return OptionalInt.empty();
        }
    }

    /** Polls stdout until it contains {@code text}; false if the process exits or the time passes first. */
    public boolean awaitOutput(String text, Duration timeout) {
        return awaitCondition(() -> stdout().contains(text), timeout);
    }

    /** Polls until {@code file} exists; false if the process exits or the time passes first. */
    public boolean awaitFile(Path file, Duration timeout) {
        return awaitCondition(() -> Files.exists(file), timeout);
    }

    private boolean awaitCondition(java.util.function.BooleanSupplier done, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() - deadline < 0) {
            if (done.getAsBoolean()) {
                return true;
            }
            if (!process.isAlive()) {
                return done.getAsBoolean();
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

    /** SIGKILL, then reaps (bounded). */
    public void kill() {
        process.destroyForcibly();
        if (awaitExit(REAP).isEmpty()) {
            throw new IllegalStateException("process " + pid() + " survived SIGKILL for " + REAP + ": " + command);
        }
    }

    public String stdout() {
        return read(stdout);
    }

    public String stderr() {
        return read(stderr);
    }

    /** The command line, exit state and output, for error messages. */
    public String describe() {
        return String.join(" ", command) + (process.isAlive() ? " (running)" : " (exit " + process.exitValue() + ")")
                + "\n--- stdout ---\n" + stdout() + "--- stderr ---\n" + stderr();
    }

    /** Kills the process if it still runs and reaps it; the output files stay (they live in the caller's dir). */
    @Override
    public void close() {
        if (process.isAlive()) {
            kill();
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
