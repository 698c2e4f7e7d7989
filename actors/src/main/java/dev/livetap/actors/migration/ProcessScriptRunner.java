package dev.livetap.actors.migration;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code PATH ifname} as a child process on {@code executor} (a pool meant for blocking
 * work, never an actor dispatcher), killing it after {@code timeout}.
 */
public final class ProcessScriptRunner implements ScriptRunner {
    private final Duration timeout;
    private final Executor executor;

    public ProcessScriptRunner(Duration timeout, Executor executor) {
        this.timeout = timeout;
        this.executor = executor;
    }

    @Override
    public CompletionStage<Integer> run(String path, String ifname) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                Process p = new ProcessBuilder(path, ifname).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(path + " " + ifname + " did not finish within "
                            + timeout.toMillis() + " ms and was killed");
                }
                return p.exitValue();
            } catch (IOException e) {
                throw new IllegalStateException("cannot run " + path + ": " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while running " + path, e);
            }
        }, executor);
    }
}
