package dev.livetap.nativeio;

/**
 * Everything livetap asks of the operating system. Two implementations: the Linux kernel
 * through JNA ({@code JnaOs}), and an in-memory OS for the deterministic simulation.
 */
public interface Os {
    Tun tun();

    UnixSockets unix();

    FdInspector fds();

    /** The process's single I/O reactor. */
    Reactor reactor();

    MonotonicClock clock();

    Availability availability();

    /** True when the calling thread is in the process's network namespace (design decision 6). */
    boolean threadInProcessNetns();
}
