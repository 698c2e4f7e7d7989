package dev.livetap.nativeio.testing;

import dev.livetap.nativeio.OwnedFd;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A snapshot of {@link OwnedFd#openCount()} and of /proc/self/fd. {@link #assertNoLeak()}
 * fails when an owned fd stays open or a new kernel descriptor appeared. Jars, shared libraries
 * and JNA's stub that the JVM opens while loading classes, and the cgroup and /proc files it reads
 * for its container limits, are not leaks and are ignored.
 */
public final class FdCounter {
    private final int owned;
    private final Map<Integer, String> process;

    private FdCounter(int owned, Map<Integer, String> process) {
        this.owned = owned;
        this.process = process;
    }

    public static FdCounter snapshot() {
        return new FdCounter(OwnedFd.openCount(), processFds());
    }

    public int ownedAtStart() {
        return owned;
    }

    public int processFdsAtStart() {
        return process.size();
    }

    /** Every fd opened since the snapshot was closed again: owned fds by count, kernel fds by number and target. */
    public void assertNoLeak() {
        int ownedNow = OwnedFd.openCount();
        if (ownedNow != owned) {
            throw new AssertionError("every OwnedFd opened during the test must be closed by its owner: "
                    + owned + " open at start, " + ownedNow + " now");
        }
        List<String> leaked = addedKernelFds();
        if (!leaked.isEmpty()) {
            throw new AssertionError("no kernel descriptor may outlive the test (every received or opened fd is "
                    + "closed, including fds the kernel delivered with a rejected message): new in /proc/self/fd: " + leaked);
        }
    }

    /**
     * No kernel descriptor appeared since the snapshot (by number and target; the JVM's own files
     * ignored). Descriptors that went away do not count: on a real JVM unrelated ones close at any
     * moment (the process reaper closes a finished child's pipes), so a before/after count can drop.
     */
    public void assertNoNewKernelFds(String what) {
        List<String> added = addedKernelFds();
        if (!added.isEmpty()) {
            throw new AssertionError(what + ": new in /proc/self/fd: " + added);
        }
    }

    /** "fd -> target" of every descriptor opened (or reused for another file) since the snapshot. */
    private List<String> addedKernelFds() {
        List<String> added = new ArrayList<>();
        processFds().forEach((fd, target) -> {
            if (!target.equals(process.get(fd)) && !loaderArtifact(target)) {
                added.add(fd + " -> " + target);
            }
        });
        return added;
    }

    private static boolean loaderArtifact(String target) {
        // The JVM itself briefly opens cgroup files (container memory/CPU limits) and /proc entries.
        return target.matches("/proc/\\d+/fd") || target.endsWith(".jar") || target.endsWith(".so") || target.contains("/jna")
                || target.endsWith(".jsa") || target.startsWith("/sys/fs/cgroup/") || target.startsWith("/proc/");
    }

    private static Map<Integer, String> processFds() {
        Map<Integer, String> fds = new TreeMap<>();
        Path dir = Path.of("/proc/self/fd");
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                String target;
                try {
                    target = Files.readSymbolicLink(entry).toString();
                } catch (IOException e) {
                    continue; // the listing's own descriptor, gone by now
                }
                fds.put(Integer.parseInt(entry.getFileName().toString()), target);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/fd", e);
        }
        return fds;
    }
}
