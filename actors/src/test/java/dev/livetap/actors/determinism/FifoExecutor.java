package dev.livetap.actors.determinism;

import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One FIFO queue of tasks, run one at a time by whoever drives it (the test thread): every Pekko
 * dispatcher of a deterministic run hands its work here (design decision 4). Shutdown is a no-op,
 * since the dispatchers come and go while the queue lives as long as the run.
 */
public final class FifoExecutor extends AbstractExecutorService {
    /** The executor the configurator hands out; set by the test before the ActorSystem starts. */
    static volatile FifoExecutor current;

    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    private long executed;
    /** When set, the kind of every task run (a mailbox is named by its actor's path), for diagnosing divergence. */
    volatile java.util.List<String> log;

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
        if (log != null) {
            String what = r.getClass().getName();
            if (r instanceof org.apache.pekko.dispatch.Mailbox m && m.actor() != null) {
                what = "mailbox " + m.actor().self().path();
            }
            log.add(what);
        }
        r.run();
        return true;
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
