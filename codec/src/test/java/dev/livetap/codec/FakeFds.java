package dev.livetap.codec;

import dev.livetap.nativeio.FdOps;
import dev.livetap.nativeio.OwnedFd;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Fake descriptors for tests: numbers from a counter, every close recorded, so leaks and double closes show. */
public final class FakeFds implements FdOps {
    private int next;
    private final Map<Integer, Integer> closes = new HashMap<>();
    private final List<Integer> opened = new ArrayList<>();
    private final boolean tracked;

    /** Fake fds that record nothing (for benchmarks, where records would grow without bound). */
    public static FakeFds untracked() {
        return new FakeFds(1000, false);
    }

    private FakeFds(int first, boolean tracked) {
        this.next = first;
        this.tracked = tracked;
    }

    public FakeFds() {
        this(1000);
    }

    public FakeFds(int first) {
        this(first, true);
    }

    public synchronized OwnedFd open() {
        int n = next++;
        if (tracked) {
            opened.add(n);
        }
        return OwnedFd.adopt(n, this);
    }

    @Override
    public synchronized void close(int fd) {
        if (tracked) {
            closes.merge(fd, 1, Integer::sum);
        }
    }

    @Override
    public synchronized int dup(int fd) {
        int n = next++;
        if (tracked) {
            opened.add(n);
        }
        return n;
    }

    public synchronized int openedCount() {
        return opened.size();
    }

    /** Descriptors opened but never closed. */
    public synchronized List<Integer> leaked() {
        List<Integer> out = new ArrayList<>();
        for (int n : opened) {
            if (!closes.containsKey(n)) {
                out.add(n);
            }
        }
        return out;
    }

    /** Descriptors closed more than once (at the OS level). */
    public synchronized List<Integer> closedTwice() {
        List<Integer> out = new ArrayList<>();
        closes.forEach((n, c) -> {
            if (c > 1) {
                out.add(n);
            }
        });
        out.sort(Integer::compare);
        return out;
    }

    public synchronized boolean isClosed(int n) {
        return closes.containsKey(n);
    }
}
