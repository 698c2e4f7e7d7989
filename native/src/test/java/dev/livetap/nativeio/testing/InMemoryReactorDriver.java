package dev.livetap.nativeio.testing;

import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Drives the caller-driven reactors of in-memory processes from one background thread, as each
 * process's reactor thread would: actor tests then see readiness arrive asynchronously, like on
 * the kernel. A handler's exception stops the driver and is rethrown by {@link #close()}.
 */
public final class InMemoryReactorDriver implements AutoCloseable {
    private final List<InMemoryOs> processes;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Throwable failure;

    public InMemoryReactorDriver(InMemoryOs... processes) {
        this.processes = List.of(processes);
        this.thread = new Thread(this::loop, "in-memory-reactors");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void loop() {
        try {
            while (running) {
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
            throw new AssertionError("a reactor handler failed: " + failure, failure);
        }
    }
}
