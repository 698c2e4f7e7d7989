package dev.livetap.nativeio;

/** Questions about descriptors, asked before trusting fds that came from another process. */
public interface FdInspector {
    /** fstat(2): what kind of file this is. */
    FdKind kind(OwnedFd fd);

    /** kcmp(KCMP_FILE) within this process: do both descriptors refer to the same open file? */
    boolean sameOpenFile(OwnedFd a, OwnedFd b);

    /** fcntl(F_GETFL) & O_NONBLOCK. */
    boolean isNonBlocking(OwnedFd fd);

    /** fcntl(F_SETFL, O_NONBLOCK). */
    void setNonBlocking(OwnedFd fd, boolean nonBlocking);

    /** Entries of /proc/self/fd (or the in-memory OS's table): every descriptor, owned or not. */
    int countProcessFds();

    /** pipe2(O_CLOEXEC|O_NONBLOCK): [read end, write end]; stand-in fds where no TUN exists. */
    OwnedFd[] pipe();
}
