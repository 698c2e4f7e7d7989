package dev.livetap.actors.migration;

import java.util.concurrent.CompletionStage;

/**
 * Runs a TAP script ({@code script=} / {@code downscript=}) as {@code PATH ifname}. Injected so
 * that tests record calls; the real one ({@link ProcessScriptRunner}) runs the process with a
 * timeout, off the actor threads.
 */
public interface ScriptRunner {
    /** @return the exit status */
    CompletionStage<Integer> run(String path, String ifname);
}
