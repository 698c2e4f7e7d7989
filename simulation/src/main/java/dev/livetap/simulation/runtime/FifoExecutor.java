package dev.livetap.simulation.runtime;

import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One FIFO queue of tasks, run one at a time by the simulation's driving thread: every Pekko
 * dispatcher of a simulated ActorSystem hands its work here (design decision 4). Shutdown is a
 * no-op: dispatchers come and go while the queue lives as long as the worker.
 */
public final class FifoExecutor extends AbstractExecutorService {
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    private long executed;

    @Override
    public synchronized void execute(Runnable command) {
        tasks.add(command);
    }

    /** Runs the oldest task; false when there is none. */
    public boolean runOne() {
        Runnable r;
        synchronized (this) {
            r = tasks.poll();
        }
        if (r == null) {
            return false;
        }
        executed++;
        r.run();
        return true;
    }

    public synchronized int pending() {
        return tasks.size();
    }

    public long executed() {
        return executed;
    }

    @Override
    public void shutdown() {
    }

    @Override
    public List<Runnable> shutdownNow() {
        return List.of();
    }

    @Override
    public boolean isShutdown() {
        return false;
    }

    @Override
    public boolean isTerminated() {
        return false;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
        return true;
    }
}
