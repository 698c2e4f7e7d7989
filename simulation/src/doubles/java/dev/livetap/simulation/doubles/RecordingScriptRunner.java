package dev.livetap.simulation.doubles;

import dev.livetap.actors.migration.ScriptRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/** A script runner for tests and the simulation: records each call, runs nothing, exits 0. Thread-safe. */
public final class RecordingScriptRunner implements ScriptRunner {
    /** One call. */
    public record Call(String path, String ifname) {
    }

    private final List<Call> calls = new ArrayList<>();

    @Override
    public synchronized CompletionStage<Integer> run(String path, String ifname) {
        calls.add(new Call(path, ifname));
        return CompletableFuture.completedFuture(0);
    }

    public synchronized List<Call> calls() {
        return List.copyOf(calls);
    }
}
