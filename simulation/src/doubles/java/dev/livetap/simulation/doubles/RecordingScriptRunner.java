package dev.livetap.simulation.doubles;

import dev.livetap.actors.migration.ScriptRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

/** A script runner for tests and the simulation: records each call, runs nothing, exits 0. Thread-safe. */
public final class RecordingScriptRunner implements ScriptRunner {
    /** One call. */
    public record Call(String path, String ifname) {
    }

    private final List<Call> calls = new ArrayList<>();
    private Consumer<Call> onRun = c -> { };

    @Override
    public synchronized CompletionStage<Integer> run(String path, String ifname) {
        Call call = new Call(path, ifname);
        calls.add(call);
        onRun.accept(call);
        return CompletableFuture.completedFuture(0);
    }

    /** {@code hook} sees each call as it runs (e.g. to record what exists while a downscript runs). */
    public synchronized void onRun(Consumer<Call> hook) {
        this.onRun = hook;
    }

    public synchronized List<Call> calls() {
        return List.copyOf(calls);
    }
}
