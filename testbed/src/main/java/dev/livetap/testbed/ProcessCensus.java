package dev.livetap.testbed;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * What {@code /proc} says about another process: its descriptors ({@code /proc/PID/fd}, with
 * {@code fdinfo} and {@code net/unix} to tell TUN queues and socket states), its RSS, its CPU ticks
 * per thread, its command line; and the process table searched by command line (e.g. the
 * {@code livetap vmm} processes of a QMP socket). The one reader of those files in the harness; a
 * process that is gone reads as empty (or -1), a descriptor closed during the listing is skipped.
 */
public final class ProcessCensus {
    private ProcessCensus() {
    }

    /** One descriptor: its number and where {@code /proc/PID/fd/N} points ({@code socket:[inode]}, a path ...). */
    public record Fd(int number, String target) {
    }

    /** TUN queues and sockets among a process's descriptors; -1 each when the process is gone. */
    public record FdKinds(int tun, int sockets) {
        @Override
        public String toString() {
            return tun + " TUN queue(s), " + sockets + " socket(s)";
        }
    }

    /**
     * The command line of {@code pid} ({@code /proc/PID/cmdline}, split at its NULs); empty when the
     * process is gone, not ours to read, or a kernel thread.
     */
    public static List<String> commandLine(long pid) {
        try {
            String raw = new String(Files.readAllBytes(proc(pid).resolve("cmdline")), StandardCharsets.UTF_8);
            return raw.isEmpty() ? List.of() : List.of(raw.split("\0"));
        } catch (IOException endedMeanwhile) {
            return List.of();
        }
    }

    /** The {@code comm} name of {@code pid} ({@code /proc/PID/comm}, e.g. {@code ping}); empty when the process is gone. */
    public static Optional<String> commandName(long pid) {
        try {
            return Optional.of(Files.readString(proc(pid).resolve("comm"), StandardCharsets.UTF_8).strip());
        } catch (IOException endedMeanwhile) {
            return Optional.empty();
        }
    }

    /** The processes alive at the call whose command line {@code test} accepts (a process ending meanwhile has none). */
    public static List<Long> processesWhose(Predicate<List<String>> test) {
        return List.copyOf(commandLinesWhere(test).keySet());
    }

    /** {@link #processesWhose}, each with the command line {@code test} accepted, in the process table's order. */
    public static Map<Long, List<String>> commandLinesWhere(Predicate<List<String>> test) {
        Map<Long, List<String>> found = new LinkedHashMap<>();
        ProcessHandle.allProcesses().forEach(p -> {
            List<String> args = commandLine(p.pid());
            if (test.test(args)) {
                found.put(p.pid(), args);
            }
        });
        return found;
    }

    /**
     * The {@code --qmp} argument of a {@code livetap vmm} command line (the first one after {@code vmm});
     * empty for any other command line.
     */
    public static Optional<String> vmmQmpArgument(List<String> commandLine) {
        boolean vmm = false;
        for (int i = 0; i < commandLine.size(); i++) {
            vmm |= commandLine.get(i).equals("vmm");
            if (vmm && commandLine.get(i).equals("--qmp") && i + 1 < commandLine.size()) {
                return Optional.of(commandLine.get(i + 1));
            }
        }
        return Optional.empty();
    }

    /** The descriptors of {@code pid}; empty when the process is gone or unreadable. */
    public static Optional<List<Fd>> fds(long pid) {
        List<Fd> fds = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(proc(pid).resolve("fd"))) {
            for (Path e : d) {
                try {
                    fds.add(new Fd(Integer.parseInt(e.getFileName().toString()), Files.readSymbolicLink(e).toString()));
                } catch (IOException closedMeanwhile) {
                    continue;
                }
            }
        } catch (IOException | UncheckedIOException gone) {
            return Optional.empty();
        }
        return Optional.of(fds);
    }

    /**
     * The descriptors without the files a JVM opens by itself at any moment (cgroup and /proc files it
     * reads for its container limits, jars, libraries, the CDS archive): one of those open at a
     * snapshot would otherwise count as a leaked or a missing fd. -1 when the process is gone.
     */
    public static int fdsBesideTheJvmsOwn(long pid) {
        return targetsBesideTheJvmsOwn(pid).map(List::size).orElse(-1);
    }

    /** What the descriptors of {@link #fdsBesideTheJvmsOwn} point to, sorted; empty when the process is gone. */
    public static Optional<List<String>> targetsBesideTheJvmsOwn(long pid) {
        return fds(pid).map(l -> l.stream().map(Fd::target).filter(t -> !(t.startsWith("/sys/fs/cgroup/")
                || t.startsWith("/proc/") || t.endsWith(".jar") || t.endsWith(".so") || t.endsWith(".jsa"))).sorted().toList());
    }

    /**
     * TUN queues by {@code /proc/PID/fdinfo/N} (a TUN file shows {@code iff:}), not by the link name: a
     * queue received from a process whose mount namespace is gone reads as {@code /net/tun}.
     */
    public static FdKinds fdKinds(long pid) {
        Optional<List<Fd>> fds = fds(pid);
        if (fds.isEmpty()) {
            return new FdKinds(-1, -1);
        }
        int tun = 0;
        int sockets = 0;
        for (Fd fd : fds.get()) {
            if (fd.target().startsWith("socket:")) {
                sockets++;
            } else if (fd.target().endsWith("/tun") && fdinfo(pid, fd.number()).contains("iff:")) {
                tun++;
            }
        }
        return new FdKinds(tun, sockets);
    }

    /** The descriptors other than jars, libraries and the JVM's own files, unix sockets with their state (for messages). */
    public static String describeFds(long pid) {
        Map<String, String> unix = new HashMap<>();
        for (String[] f : unixSockets(pid)) {
            unix.put("socket:[" + f[6] + "]", " (unix st " + f[5] + (f.length > 7 ? " " + f[7] : "") + ")");
        }
        Optional<List<Fd>> fds = fds(pid);
        if (fds.isEmpty()) {
            return "process " + pid + " is gone";
        }
        StringBuilder b = new StringBuilder();
        for (Fd fd : fds.get()) {
            String t = fd.target();
            if (!(t.endsWith(".jar") || t.endsWith(".so") || t.contains("/jvm/") || t.endsWith(".out"))) {
                b.append(b.length() > 0 ? ", " : "").append(fd.number()).append("->").append(t).append(unix.getOrDefault(t, ""));
            }
        }
        return b.toString();
    }

    /**
     * The rows of {@code /proc/PID/net/unix} (the process's network namespace), split on blanks:
     * Num RefCount Protocol Flags Type St Inode [Path]. Empty when unreadable.
     */
    public static List<String[]> unixSockets(long pid) {
        List<String[]> rows = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(proc(pid).resolve("net").resolve("unix"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 7 && !f[0].equals("Num")) {
                    rows.add(f);
                }
            }
        } catch (IOException gone) {
            return List.of();
        }
        return rows;
    }

    /** VmRSS in KiB, -1 when the process is gone. */
    public static long rssKb(long pid) {
        try {
            for (String line : Files.readAllLines(proc(pid).resolve("status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    /** utime + stime in clock ticks (USER_HZ, 100 on Linux), -1 if the process is gone. */
    public static long cpuTicks(long pid) {
        try {
            return ticks(Files.readString(proc(pid).resolve("stat")));
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * CPU ticks per thread of a process ({@code /proc/PID/task/TID}), keyed {@code comm/TID} with the
     * comm's trailing digits folded (all {@code GC Thread#N} share a group), for the threads alive at the call.
     */
    public static Map<String, Long> threadTicks(long pid) {
        Map<String, Long> m = new TreeMap<>();
        java.io.File[] tasks = proc(pid).resolve("task").toFile().listFiles();
        if (tasks == null) {
            return m;
        }
        for (java.io.File task : tasks) {
            try {
                String comm = Files.readString(task.toPath().resolve("comm")).trim().replaceAll("[#-]?\\d+$", "");
                // key per thread: a thread that ends during the window drops out of both snapshots' difference
                m.merge(comm + "/" + task.getName(), ticks(Files.readString(task.toPath().resolve("stat"))), Long::sum);
            } catch (NoSuchFileException e) {
                continue; // the thread ended between the listing and the read: its ticks are gone with it
            } catch (IOException e) {
                if (!task.exists()) {
                    continue; // ended while being read (ESRCH)
                }
                throw new UncheckedIOException(e);
            }
        }
        return m;
    }

    /** The number of threads ({@code /proc/PID/task} entries), -1 when the process is gone. */
    public static int threads(long pid) {
        String[] tasks = proc(pid).resolve("task").toFile().list();
        return tasks == null ? -1 : tasks.length;
    }

    private static long ticks(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15 of stat(5)
    }

    private static String fdinfo(long pid, int fd) {
        try {
            return Files.readString(proc(pid).resolve("fdinfo").resolve(String.valueOf(fd)));
        } catch (IOException closedMeanwhile) {
            return "";
        }
    }

    private static Path proc(long pid) {
        return Path.of("/proc", String.valueOf(pid));
    }
}
