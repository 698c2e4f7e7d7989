package dev.livetap.nativeio;

/** Questions about descriptors, asked before trusting fds that came from another process. */
public interface FdInspector {
    /** fstat(2): what kind of file this is. */
    FdKind kind(OwnedFd fd);

    /** kcmp(KCMP_FILE) within this process: do both descriptors refer to the same open file? */
    default boolean sameOpenFile(OwnedFd a, OwnedFd b) {
        return compareOpenFiles(a, b) == 0;
    }

    /**
     * kcmp(KCMP_FILE)'s order of the open files behind two descriptors: 0 for the same open file,
     * else -1 or 1, consistently for as long as both stay open (kcmp(2): its results are "suitable
     * for sorting"). Sorting n fds by it finds a file passed twice with O(n log n) calls instead of
     * comparing every pair: 256 queues are 32,640 pairs.
     */
    int compareOpenFiles(OwnedFd a, OwnedFd b);

    /** fcntl(F_GETFL) & O_NONBLOCK. */
    boolean isNonBlocking(OwnedFd fd);

    /** fcntl(F_SETFL, O_NONBLOCK). */
    void setNonBlocking(OwnedFd fd, boolean nonBlocking);

    /** Entries of /proc/self/fd (or the in-memory OS's table): every descriptor, owned or not. */
    int countProcessFds();

    /**
     * Takes ownership of a descriptor number this process opened outside livetap (an embedder's
     * pre-opened TAP queue): fails with EBADF, owning nothing, when the number is not open.
     */
    OwnedFd adopt(int fd);

    /** pipe2(O_CLOEXEC|O_NONBLOCK): [read end, write end]; stand-in fds where no TUN exists. */
    OwnedFd[] pipe();
}
