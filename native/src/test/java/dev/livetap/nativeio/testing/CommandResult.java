package dev.livetap.nativeio.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Exit code and merged stdout+stderr of a finished (or timed-out, then killed) command. */
public record CommandResult(List<String> command, int exitCode, String output, boolean timedOut) {
    public boolean ok() {
        return exitCode == 0 && !timedOut;
    }

    /** This result, or an IllegalStateException naming the command, its exit code and output. */
    public CommandResult orThrow() {
        if (!ok()) {
            throw new IllegalStateException(this.toString());
        }
        return this;
    }

    @Override
    public String toString() {
        return String.join(" ", command) + (timedOut ? " timed out" : " exited " + exitCode) + (output.isBlank() ? "" : ": " + output.strip());
    }

    /** Runs {@code command} with output captured in a temp file (no pipe to fill), killed after {@code timeout}. */
    public static CommandResult run(Duration timeout, List<String> command) {
        Path out = null;
        try {
            out = Files.createTempFile("livetap-cmd", ".out");
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            boolean done;
            try {
                done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while running " + command, e);
            }
            if (!done) {
                p.destroyForcibly();
                try {
                    p.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            String output = Files.readString(out, StandardCharsets.UTF_8);
            return new CommandResult(List.copyOf(command), done ? p.exitValue() : -1, output, !done);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        } finally {
            if (out != null) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException e) {
                    // the temp file stays behind; nothing else depends on it
                    System.err.println("cannot delete " + out + ": " + e);
                }
            }
        }
    }
}
