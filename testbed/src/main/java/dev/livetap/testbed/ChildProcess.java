package dev.livetap.testbed;

import dev.livetap.testbed.launch.ChildLaunch;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
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
import java.util.concurrent.TimeoutException;

/**
 * A child process with stdout and stderr in files (a chatty child never blocks on a full pipe),
 * bounded waits, and {@link #close()} that kills and reaps it. A {@linkplain #startWatched watched}
 * child's stdout is a pipe that one reader thread copies to the file while it keeps the lines that
 * start with a marker ({@code READY }), so a caller waits for such a line on a condition, not by
 * reading the file over and over.
 */
public final class ChildProcess implements AutoCloseable {
    private static final Duration REAP = Duration.ofSeconds(10);

    private final Process process;
    private final List<String> command;
    private final Path stdout;
    private final Path stderr;

    private final Object lock = new Object();
    private final List<String> marked = new ArrayList<>();
    private boolean stdoutClosed;

    private ChildProcess(Process process, List<String> command, Path stdout, Path stderr) {
        this.process = process;
        this.command = command;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    /**
     * Starts {@code command} with {@code policy}'s stdin ({@link ChildLaunch#start}); stdout goes to
     * {@code dir/label.out} through a reader thread that keeps every line starting with {@code marker}
     * ({@link #awaitMarked}); stderr to {@code dir/label.err}, or into stdout's file with
     * {@code mergeStderr} (one log).
     */
    public static ChildProcess startWatched(List<String> command, Path dir, String label, ChildLaunch.Policy policy,
            String marker, boolean mergeStderr) {
        Path out = dir.resolve(label + ".out");
        Path err = mergeStderr ? out : dir.resolve(label + ".err");
        ProcessBuilder pb = new ProcessBuilder(command);
        if (mergeStderr) {
            pb.redirectErrorStream(true);
        } else {
            pb.redirectError(err.toFile());
        }
        Process p;
        BufferedWriter log = null;
        try {
            log = Files.newBufferedWriter(out, StandardCharsets.UTF_8);
            p = ChildLaunch.start(pb, policy);
        } catch (IOException e) {
            if (log != null) {
                try {
                    log.close();
                } catch (IOException ignored) {
                    // reported through the start failure
                }
            }
            throw new UncheckedIOException("cannot start " + command, e);
        }
        ChildProcess child = new ChildProcess(p, List.copyOf(command), out, err);
        BufferedWriter copy = log;
        Thread reader = new Thread(() -> child.copyStdout(copy, marker), "stdout-" + label);
        reader.setDaemon(true);
        reader.start();
        return child;
    }

    private void copyStdout(BufferedWriter log, String marker) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                log) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                log.write(line);
                log.newLine();
                log.flush(); // the log is read while the child runs (tails in error messages)
                if (line.startsWith(marker)) {
                    synchronized (lock) {
                        marked.add(line);
                        lock.notifyAll();
                    }
                }
            }
        } catch (IOException e) {
            // the pipe closed under the reader: the child is gone
        } finally {
            synchronized (lock) {
                stdoutClosed = true;
                lock.notifyAll();
            }
        }
    }

    /** Whether {@code count} marked lines have arrived (never blocks). */
    public boolean hasMarked(int count) {
        synchronized (lock) {
            return marked.size() >= count;
        }
    }

    /**
     * Waits (on a condition, bounded) until {@code count} marked lines arrived and returns them.
     *
     * @throws IOException      when stdout ends first (the child exited)
     * @throws TimeoutException when {@code timeout} passes first
     */
    public List<String> awaitMarked(int count, Duration timeout) throws IOException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (marked.size() < count) {
                if (stdoutClosed) {
                    throw new IOException("exited after " + marked.size() + " of " + count + " marked lines");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException("no " + count + " marked lines within " + timeout.toMillis() + " ms (got "
                            + marked.size() + ")");
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
            return List.copyOf(marked.subList(0, count));
        }
    }

    /** SIGTERM, up to {@code grace} for the exit, then SIGKILL and a bounded reap. */
    public void terminate(Duration grace) {
        terminate(grace, REAP);
    }

    /** SIGTERM, up to {@code grace} for the exit, then SIGKILL and up to {@code reap} for the kernel to end it. */
    public void terminate(Duration grace, Duration reap) {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        if (awaitExit(grace).isEmpty()) {
            kill(reap);
        }
    }

    /** SIGKILL without waiting (a run being torn down kills everything first, then reaps). */
    public void destroy() {
        process.destroyForcibly();
    }

    public Path stdoutFile() {
        return stdout;
    }

    public Path stderrFile() {
        return stderr;
    }

    /** The last {@code max} characters of stderr (of the one log when merged), for messages. */
    public String stderrTail(int max) {
        String s = stderr().strip();
        return s.length() > max ? "..." + s.substring(s.length() - max) : s;
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

    /** Polls until {@code file} exists; false if the process exits or the time passes first. */
    public boolean awaitFile(Path file, Duration timeout) {
        return awaitCondition(() -> Files.exists(file), timeout);
    }

    private boolean awaitCondition(java.util.function.BooleanSupplier done, Duration timeout) {
        Retry.until(timeout, Duration.ofMillis(20), () -> done.getAsBoolean() || !process.isAlive());
        return done.getAsBoolean();
    }

    /** SIGKILL, then reaps (bounded). */
    public void kill() {
        kill(REAP);
    }

    /** SIGKILL, then reaps within {@code reap}: a process's exit closes its fds, which can take the kernel a while. */
    public void kill(Duration reap) {
        process.destroyForcibly();
        if (awaitExit(reap).isEmpty()) {
            throw new IllegalStateException("process " + pid() + " survived SIGKILL for " + reap + ": " + command);
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
                + "\n--- stdout ---\n" + stdout() + (stderr.equals(stdout) ? "" : "--- stderr ---\n" + stderr());
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
