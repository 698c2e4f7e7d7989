package dev.livetap.nativeio;

/**
 * The one I/O loop of a process (design decision 1). Every socket and TAP queue of the process
 * is non-blocking and registered here; readiness is handed to {@link ReadinessHandler}s on the
 * reactor's own thread (or, in the in-memory OS, on the caller that drives it). Handlers must
 * not block: they read until EAGAIN, then return.
 */
public interface Reactor extends AutoCloseable {
    int READ = 1;
    int WRITE = 4;
    /** Reported (never requested): hang-up or error on the descriptor. */
    int HANGUP = 16;

    /** Starts watching {@code fd} for {@code interestOps} (READ and/or WRITE, may be 0). */
    Registration register(OwnedFd fd, int interestOps, ReadinessHandler handler);

    /** Runs {@code task} on the reactor thread, after the current handler returns. */
    void execute(Runnable task);

    /** True when called from the reactor thread (or from inside the in-memory OS's drive loop). */
    boolean inReactorThread();

    /** Stops the loop; registrations are dropped, their fds are not closed (owners close them). */
    @Override
    void close();

    /** Readiness callback. */
    @FunctionalInterface
    interface ReadinessHandler {
        void onReady(int readyOps);
    }

    /** A watched descriptor. Cancel before closing the fd. */
    interface Registration {
        /** Replaces the interest set (READ, WRITE, both, or 0 to pause). Thread-safe. */
        void interest(int ops);

        int interest();

        /** Stops watching; idempotent. Thread-safe. */
        void cancel();
    }
}
