package dev.livetap.nativeio;

import java.util.Collection;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An open file descriptor with exactly one owner. Closing is explicit and happens once;
 * nothing is closed by the garbage collector, so a leak shows up in {@link #openCount()}.
 */
public final class OwnedFd implements AutoCloseable {
    private static final AtomicInteger OPEN = new AtomicInteger();

    private final int fd;
    private final FdOps ops;
    private final AtomicBoolean closed = new AtomicBoolean();

    private OwnedFd(int fd, FdOps ops) {
        if (fd < 0) {
            throw new IllegalArgumentException("not a file descriptor: " + fd);
        }
        this.fd = fd;
        this.ops = ops;
        OPEN.incrementAndGet();
    }

    /** Takes ownership of a descriptor that {@code ops} created. */
    public static OwnedFd adopt(int fd, FdOps ops) {
        return new OwnedFd(fd, ops);
    }

    /** Owned descriptors of this process (all OS implementations) that are not closed yet. */
    public static int openCount() {
        return OPEN.get();
    }

    /** The descriptor number; fails if already closed, so a stale number is never used. */
    public int fd() {
        if (closed.get()) {
            throw new IllegalStateException("fd " + fd + " is already closed");
        }
        return fd;
    }

    /** The number even after close, for logs and error messages only. */
    public int number() {
        return fd;
    }

    public FdOps ops() {
        return ops;
    }

    public boolean isOpen() {
        return !closed.get();
    }

    /** A second owned descriptor for the same open file. */
    public OwnedFd dup() {
        return new OwnedFd(ops.dup(fd()), ops);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            OPEN.decrementAndGet();
            ops.close(fd);
        }
    }

    /** Closes every descriptor of the collection, continuing past failures. */
    public static void closeAll(Collection<OwnedFd> fds) {
        RuntimeException first = null;
        for (OwnedFd f : fds) {
            try {
                f.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    @Override
    public String toString() {
        return "fd " + fd + (isOpen() ? "" : " (closed)");
    }
}
