package dev.livetap.engine.qmp;

import dev.livetap.nativeio.FdOps;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** Fake owned fds whose closes are counted; numbers are never real descriptors. */
final class TestFds implements FdOps {
    private final AtomicInteger next = new AtomicInteger(10_000);
    final AtomicInteger closes = new AtomicInteger();

    OwnedFd open() {
        return OwnedFd.adopt(next.getAndIncrement(), this);
    }

    List<OwnedFd> open(int n) {
        List<OwnedFd> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(open());
        }
        return l;
    }

    @Override
    public void close(int fd) {
        closes.incrementAndGet();
    }

    @Override
    public int dup(int fd) {
        return next.getAndIncrement();
    }
}
