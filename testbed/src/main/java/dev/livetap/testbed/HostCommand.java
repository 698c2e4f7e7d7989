package dev.livetap.testbed;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs host tools (ip, ping) with a time limit and captures their output. */
public final class HostCommand {
    /** What a command did. */
    public record Result(List<String> command, int exitCode, String output) {
        public boolean ok() {
            return exitCode == 0;
        }

        public Result orThrow() {
            if (!ok()) {
                throw new IllegalStateException(String.join(" ", command) + " failed (exit " + exitCode + "): " + output.strip());
            }
            return this;
        }
    }

    private HostCommand() {
    }

    /** Runs {@code command}, killed after {@code timeout}; its output, or an exception with it when it fails. */
    public static String check(Duration timeout, String... command) {
        return run(timeout, List.of(command)).orThrow().output();
    }

    /** Runs {@code command}; a command still running after {@code timeout} is killed and reported as exit -1. */
    public static Result run(Duration timeout, List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                return new Result(command, -1, "timed out after " + timeout.toMillis() + " ms");
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return new Result(command, p.exitValue(), out);
        } catch (IOException e) {
            return new Result(command, -1, "cannot start: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(command, -1, "interrupted");
        }
    }

    /**
     * Runs {@code command} in {@code dir} (null: this process's), with {@code env} applied to this
     * process's environment (a null value removes the variable), its output appended to {@code log}
     * (a long output never fills a pipe); a command still running after {@code timeout} is killed and
     * reported as exit -1. The result's output says where the output went.
     */
    public static Result runLogged(Duration timeout, List<String> command, Path dir, Map<String, String> env, Path log) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            if (dir != null) {
                pb.directory(dir.toFile());
            }
            env.forEach((name, value) -> {
                if (value == null) {
                    pb.environment().remove(name);
                } else {
                    pb.environment().put(name, value);
                }
            });
            Process p = pb.start();
            p.getOutputStream().close();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                return new Result(command, -1, "timed out after " + timeout.toMillis() + " ms (output in " + log + ")");
            }
            return new Result(command, p.exitValue(), "(output in " + log + ")");
        } catch (IOException e) {
            return new Result(command, -1, "cannot start: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(command, -1, "interrupted");
        }
    }
}
