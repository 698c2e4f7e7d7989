package dev.livetap.engine.testing;

import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/** Drives the caller-driven reactors of in-memory processes from one thread, as each process's reactor thread would. */
public final class InMemoryReactors implements AutoCloseable {
    private final List<InMemoryOs> processes;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Throwable failure;

    public InMemoryReactors(InMemoryOs... processes) {
        this.processes = List.of(processes);
        thread = new Thread(this::loop, "test-in-memory-reactors");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        try {
            while (running) {
                boolean progressed = false;
                for (InMemoryOs os : processes) {
                    progressed |= os.reactor().runOnce();
                }
                if (!progressed) {
                    LockSupport.parkNanos(100_000);
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
            throw new AssertionError("a reactor handler failed: " + failure, failure);
        }
    }
}
