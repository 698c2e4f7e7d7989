package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.BooleanSupplier;

/**
 * The reactor of one in-memory process, driven by its caller: no threads. One step
 * ({@link #runOnce()}) runs the tasks queued before it, in order, then offers readiness to every
 * registration in registration order. Readiness is level-triggered as with epoll, and HANGUP is
 * reported even with no interest, so a handler that neither reads nor cancels keeps the reactor
 * busy: {@link #runUntilIdle()} catches that with a step bound. Handler exceptions propagate to
 * the caller that drives the reactor.
 *
 * <p>The "reactor thread" is the thread that drives the reactor (initially the one that created
 * it); {@link #execute} and {@link Registration#interest(int)} may be called from any thread.
 */
public final class InMemoryReactor implements Reactor {
    /** Default bound of {@link #runUntilIdle()}: a run that never goes idle is a bug, not a long run. */
    public static final int MAX_STEPS_PER_RUN = 1_000_000;

    private final InMemoryOs os;
    private final List<Reg> registrations = new ArrayList<>();
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    private volatile Thread owner = Thread.currentThread();
    private boolean closed;
    private long steps;
    private long staleRegistrations;
    private volatile int maxStepsPerRun = MAX_STEPS_PER_RUN;

    InMemoryReactor(InMemoryOs os) {
        this.os = os;
    }

    @Override
    public Registration register(OwnedFd fd, int interestOps, ReadinessHandler handler) {
        synchronized (os.lock()) {
            os.fileOf(fd, "epoll_ctl(EPOLL_CTL_ADD)");
        }
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("register on a closed reactor of " + os);
            }
            Reg r = new Reg(fd.fd(), interestOps, handler);
            registrations.add(r);
            return r;
        }
    }

    @Override
    public synchronized void execute(Runnable task) {
        if (closed) {
            throw new RejectedExecutionException("the reactor of " + os + " is closed");
        }
        tasks.add(task);
    }

    @Override
    public boolean inReactorThread() {
        return Thread.currentThread() == owner;
    }

    /** Makes the calling thread the reactor thread (as if it drove the reactor). */
    public void bindToCurrentThread() {
        owner = Thread.currentThread();
    }

    @Override
    public synchronized void close() {
        closed = true;
        registrations.forEach(r -> r.cancelled = true);
        registrations.clear();
        tasks.clear();
    }

    /**
     * One step: the tasks queued before it, then one readiness sweep.
     *
     * @return true if anything ran
     */
    public boolean runOnce() {
        owner = Thread.currentThread();
        List<Runnable> batch;
        List<Reg> snapshot;
        synchronized (this) {
            steps++;
            batch = new ArrayList<>(tasks);
            tasks.clear();
            snapshot = new ArrayList<>(registrations);
        }
        boolean progressed = !batch.isEmpty();
        for (Runnable task : batch) {
            task.run();
        }
        for (Reg r : snapshot) {
            int ready;
            synchronized (this) {
                if (r.cancelled) {
                    continue;
                }
                Integer state = os.readiness(r.fd);
                if (state == null) {
                    // epoll forgets a descriptor once its file is closed; so do we.
                    r.cancelled = true;
                    registrations.remove(r);
                    staleRegistrations++;
                    continue;
                }
                ready = state & (r.interest | HANGUP);
            }
            if (ready != 0) {
                progressed = true;
                r.handler.onReady(ready);
            }
        }
        return progressed;
    }

    /** Bounds {@link #runUntilIdle()} and {@link #runUntil} (default {@link #MAX_STEPS_PER_RUN}). */
    public void maxStepsPerRun(int steps) {
        if (steps <= 0) {
            throw new IllegalArgumentException("at least one step: " + steps);
        }
        maxStepsPerRun = steps;
    }

    /** Steps until nothing is ready and no task is queued; fails past the step bound. */
    public void runUntilIdle() {
        int max = maxStepsPerRun;
        for (int i = 0; i < max; i++) {
            if (!runOnce()) {
                return;
            }
        }
        throw new IllegalStateException("the reactor of " + os + " did not go idle in " + max
                + " steps: some handler is ready forever (level-triggered readiness it never consumes)");
    }

    /**
     * Steps until {@code until} holds.
     *
     * @return false if the reactor went idle (or hit the step bound) first
     */
    public boolean runUntil(BooleanSupplier until) {
        int max = maxStepsPerRun;
        for (int i = 0; i < max; i++) {
            if (until.getAsBoolean()) {
                return true;
            }
            if (!runOnce()) {
                return until.getAsBoolean();
            }
        }
        return until.getAsBoolean();
    }

    /** Steps taken so far. */
    public synchronized long steps() {
        return steps;
    }

    /** Live registrations. */
    public synchronized int registrationCount() {
        return registrations.size();
    }

    /** Registrations dropped because their fd was closed without cancelling first. */
    public synchronized long staleRegistrations() {
        return staleRegistrations;
    }

    public synchronized int queuedTasks() {
        return tasks.size();
    }

    private final class Reg implements Registration {
        final int fd;
        final ReadinessHandler handler;
        int interest;
        boolean cancelled;

        Reg(int fd, int interest, ReadinessHandler handler) {
            this.fd = fd;
            this.interest = interest;
            this.handler = handler;
        }

        @Override
        public void interest(int ops) {
            if ((ops & ~(READ | WRITE)) != 0) {
                throw new IllegalArgumentException("interest is READ and/or WRITE, not " + ops);
            }
            synchronized (InMemoryReactor.this) {
                interest = ops;
            }
        }

        @Override
        public int interest() {
            synchronized (InMemoryReactor.this) {
                return interest;
            }
        }

        @Override
        public void cancel() {
            synchronized (InMemoryReactor.this) {
                if (!cancelled) {
                    cancelled = true;
                    registrations.remove(this);
                }
            }
        }
    }
}
