package dev.livetap.nativeio.memory;

import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.OwnedFd;

/** fstat, kcmp and fcntl on the in-memory descriptor table. */
final class MemoryFds implements FdInspector {
    private final InMemoryOs os;

    MemoryFds(InMemoryOs os) {
        this.os = os;
    }

    @Override
    public FdKind kind(OwnedFd fd) {
        synchronized (os.lock()) {
            return os.fileOf(fd, "fstat").kind;
        }
    }

    @Override
    public int compareOpenFiles(OwnedFd a, OwnedFd b) {
        synchronized (os.lock()) {
            // by the open file's id: deterministic, as the simulation needs
            return Integer.signum(Long.compare(os.fileOf(a, "kcmp(KCMP_FILE)").id, os.fileOf(b, "kcmp(KCMP_FILE)").id));
        }
    }

    @Override
    public boolean isNonBlocking(OwnedFd fd) {
        synchronized (os.lock()) {
            return os.fileOf(fd, "fcntl(F_GETFL)").nonBlocking;
        }
    }

    @Override
    public void setNonBlocking(OwnedFd fd, boolean nonBlocking) {
        synchronized (os.lock()) {
            os.fileOf(fd, "fcntl(F_SETFL)").nonBlocking = nonBlocking;
        }
    }

    @Override
    public int countProcessFds() {
        return os.tableSize();
    }

    @Override
    public OwnedFd adopt(int fd) {
        synchronized (os.lock()) {
            return os.adoptNumber(fd);
        }
    }

    @Override
    public OwnedFd[] pipe() {
        synchronized (os.lock()) {
            return new OwnedFd[] {
                os.install(new OpenFile.PipeEnd(os.kernel(), true), "pipe"),
                os.install(new OpenFile.PipeEnd(os.kernel(), false), "pipe")
            };
        }
    }
}
