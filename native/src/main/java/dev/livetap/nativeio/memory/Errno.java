package dev.livetap.nativeio.memory;

/** The errno values the in-memory OS reports, as on Linux x86_64. */
final class Errno {
    static final int ENOENT = 2;
    static final int ENXIO = 6;
    static final int E2BIG = 7;
    static final int EBADF = 9;
    static final int EBUSY = 16;
    static final int EINVAL = 22;
    static final int EMFILE = 24;
    static final int EPIPE = 32;
    static final int EBADFD = 77;
    static final int ENOTSOCK = 88;
    static final int EADDRINUSE = 98;
    static final int ECONNRESET = 104;
    static final int ECONNREFUSED = 111;

    private Errno() {
    }
}
