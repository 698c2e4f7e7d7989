package dev.livetap.nativeio.memory;

import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Drives the caller-driven reactors of in-memory processes from one background thread, as each
 * process's reactor thread would: readiness then arrives asynchronously, like on the kernel (actor
 * tests, the engine's warm-up, the stand-in demo). A handler's exception stops the driver and is
 * rethrown by {@link #close()}.
 */
public final class InMemoryReactorDriver implements AutoCloseable {
    private final List<InMemoryOs> processes;
    private final Runnable eachRound;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Throwable failure;

    public InMemoryReactorDriver(InMemoryOs... processes) {
        this("in-memory-reactors", () -> { }, processes);
    }

    /** @param eachRound runs on the driver's thread before each round (e.g. moves a kernel clock with real time) */
    public InMemoryReactorDriver(String threadName, Runnable eachRound, InMemoryOs... processes) {
        this.processes = List.of(processes);
        this.eachRound = eachRound;
        this.thread = new Thread(this::loop, threadName);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void loop() {
        try {
            while (running) {
                eachRound.run();
                boolean progressed = false;
                for (InMemoryOs os : processes) {
                    progressed |= os.reactor().runOnce();
                }
                if (!progressed) {
                    LockSupport.parkNanos(200_000);
                }
            }
        } catch (Throwable t) {
            failure = t;
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw new IllegalStateException("a reactor handler failed: " + failure, failure);
        }
    }
}
