package dev.livetap.tools;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.Retry;
import dev.livetap.testbed.selftest.HostChecks;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap cleanup}: removes what crashed livetap processes left behind. */
@Command(name = "cleanup", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Removes leftovers of livetap processes that died:",
            "  stale sockets (nobody accepts on them) in the given directories,",
            "  network namespaces named livetap-<letters><pid>[-n] whose creator pid is dead and no process uses,",
            "  and the TAP devices in them; with --force also livetap's own processes left in such a namespace",
            "  (livetap vmm JVMs, ping, reapers; checked by /proc/PID/cmdline, anything else is left alone),",
            "  and the demo's temporary folders (livetap-demo*) when no demo runs. Prints what it removed;",
            "  --dry-run only prints and exits 0 unless a scan failed."})
public final class CleanupCommand implements Callable<Integer> {
    private static final Duration STEP = Duration.ofSeconds(10);

    @Option(names = "--dir", paramLabel = "DIR", description = "Directory to scan for stale sockets (repeatable; default /run/livetap).")
    List<Path> dirs = new ArrayList<>();

    @Option(names = "--no-netns", description = "Leave network namespaces alone.")
    boolean noNetns;

    @Option(names = "--dry-run", description = "Only print what would be removed.")
    boolean dryRun;

    @Option(names = "--force", description = "End livetap's own processes (SIGKILL) that keep a dead creator's namespace alive.")
    boolean force;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    record Removal(String kind, String name, String detail) {
    }

    @Override
    public Integer call() {
        List<Removal> removed = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        List<Path> scan = dirs.isEmpty() ? List.of(Path.of("/run/livetap")) : dirs;
        for (Path dir : scan) {
            staleSockets(dir, removed, problems);
        }
        if (!noNetns) {
            namespaces(removed, problems);
        }
        demoFolders(Path.of(System.getProperty("java.io.tmpdir")), removed, problems);
        if (json) {
            ObjectNode o = Json.MAPPER.createObjectNode().put("dry_run", dryRun);
            ArrayNode list = o.putArray("removed");
            for (Removal r : removed) {
                list.addObject().put("kind", r.kind()).put("name", r.name()).put("detail", r.detail());
            }
            problems.forEach(o.putArray("problems")::add);
            System.out.println(Json.write(o));
        } else {
            for (Removal r : removed) {
                System.out.printf("%s %-7s %s (%s)%n", dryRun ? "would remove" : "removed", r.kind(), r.name(), r.detail());
            }
            problems.forEach(p -> System.out.println("problem: " + p));
            if (removed.isEmpty() && problems.isEmpty()) {
                System.out.println("nothing to clean up");
            }
        }
        return problems.isEmpty() ? ExitCodes.OK : ExitCodes.FAILED;
    }

    private void staleSockets(Path dir, List<Removal> removed, List<String> problems) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> d = Files.newDirectoryStream(dir)) {
            for (Path p : d) {
                if (!isSocket(p)) {
                    continue;
                }
                Path lock = dev.livetap.engine.transport.SocketPaths.lockFileOf(p);
                if (Files.exists(lock, LinkOption.NOFOLLOW_LINKS)) {
                    // the owner's lock decides, without connecting (a migration listener would take a probe for its peer)
                    Optional<dev.livetap.nativeio.OwnedFd> held = dev.livetap.nativeio.linux.JnaOs.instance().unix().tryLock(lock);
                    if (held.isEmpty()) {
                        continue;
                    }
                    try (dev.livetap.nativeio.OwnedFd mine = held.get()) {
                        if (!dryRun) {
                            Files.deleteIfExists(p);
                            Files.deleteIfExists(lock);
                        }
                    }
                    removed.add(new Removal("socket", p.toString(), "its lock file is free: the owner is gone"));
                    continue;
                }
                if (accepting(p)) {
                    continue;
                }
                if (!dryRun) {
                    Files.deleteIfExists(p);
                }
                removed.add(new Removal("socket", p.toString(), "nobody accepts on it"));
            }
        } catch (IOException e) {
            problems.add("cannot scan " + dir + ": " + e.getMessage());
        }
    }

    static boolean isSocket(Path p) {
        try {
            int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            return (mode & 0170000) == 0140000;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** A live listener accepts the connection (closed at once); a stale socket refuses it. */
    static boolean accepting(Path p) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(p));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private void namespaces(List<Removal> removed, List<String> problems) {
        String ip = HostChecks.which("ip").map(Path::toString).orElse(null);
        if (ip == null) {
            problems.add("iproute2's ip is not installed: namespaces not checked");
            return;
        }
        List<String> list;
        try {
            list = NetworkNamespace.list();
        } catch (IllegalStateException e) {
            problems.add("ip netns list failed: " + e.getMessage());
            return;
        }
        for (String ns : list) {
            if (!NetworkNamespace.isStale(ns)) {
                continue; // not livetap's, or its creator lives: not ours to remove
            }
            String pid = String.valueOf(NetworkNamespace.creatorPid(ns).orElseThrow());
            String users = NetworkNamespace.processesInside(ns);
            if (!users.isEmpty() && !endLivetapProcesses(ip, ns, pid, users, removed, problems)) {
                continue;
            }
            HostCommand.Result taps = HostCommand.run(STEP, List.of(ip, "-n", ns, "-o", "link", "show", "type", "tun"));
            for (String t : taps.output().split("\n")) {
                int a = t.indexOf(": ");
                int b = a < 0 ? -1 : t.indexOf(':', a + 2);
                if (a < 0 || b < 0) {
                    continue;
                }
                String tap = t.substring(a + 2, b).split("@")[0];
                if (!dryRun) {
                    HostCommand.Result del = HostCommand.run(STEP, List.of(ip, "-n", ns, "link", "del", tap));
                    if (del.exitCode() != 0) {
                        problems.add("cannot delete TAP " + tap + " in " + ns + ": " + del.output().strip());
                        continue;
                    }
                }
                removed.add(new Removal("tap", ns + "/" + tap, "in a dead process's namespace"));
            }
            if (!dryRun) {
                HostCommand.Result del = HostCommand.run(STEP, List.of(ip, "netns", "del", ns));
                if (del.exitCode() != 0) {
                    problems.add("cannot delete namespace " + ns + ": " + del.output().strip());
                    continue;
                }
            }
            removed.add(new Removal("netns", ns, "creator pid " + pid + " is dead"));
        }
    }

    /** What marks a process as livetap's own: its command line (NUL-separated in /proc/PID/cmdline). */
    static final String MAIN_CLASS = "dev.livetap.tools.LivetapCommand";
    /** The main class of VMM children and of {@code bin/livetap vmm} (the engine's, without the command line). */
    static final String VMM_MAIN_CLASS = dev.livetap.engine.vmm.VmmMain.class.getName();

    /**
     * The processes still in a dead creator's namespace: with --force, livetap's own are ended
     * (SIGKILL); any other process, or no --force, leaves the namespace alone.
     *
     * @return whether the namespace is free now (or would be, in a dry run)
     */
    private boolean endLivetapProcesses(String ip, String ns, String creator, String users, List<Removal> removed,
            List<String> problems) {
        List<Long> ours = new ArrayList<>();
        List<String> foreign = new ArrayList<>();
        for (String u : users.split("\\s+")) {
            long p = Long.parseLong(u);
            Optional<String> what = livetapProcess(p);
            if (what.isPresent()) {
                ours.add(p);
            } else {
                foreign.add(u);
            }
        }
        if (!foreign.isEmpty()) {
            problems.add("namespace " + ns + " (creator pid " + creator + " dead) is used by pids " + String.join(" ", foreign)
                    + " that are not livetap's: left alone");
            return false;
        }
        if (!force) {
            String text = "namespace " + ns + " (creator pid " + creator + " dead) is still used by livetap pids "
                    + users.replace('\n', ' ') + ": cleanup --force ends them";
            if (dryRun) {
                System.err.println("note: " + text);
            } else {
                problems.add(text);
            }
            return false;
        }
        for (long p : ours) {
            String what = livetapProcess(p).orElse("livetap process");
            if (!dryRun) {
                ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly);
            }
            removed.add(new Removal("process", String.valueOf(p), what + " in " + ns));
        }
        if (dryRun) {
            return true;
        }
        if (!Retry.until(Duration.ofSeconds(5), Duration.ofMillis(50), () -> NetworkNamespace.processesInside(ns).isBlank())) {
            problems.add("namespace " + ns + ": livetap's processes did not end within 5 s of SIGKILL");
            return false;
        }
        return true;
    }

    /** "livetap vmm", "ping" or "livetap reaper" when /proc/PID says the process is one of livetap's; empty otherwise. */
    static Optional<String> livetapProcess(long pid) {
        // gone meanwhile, or unreadable: an empty command line and no name, not provably ours
        List<String> args = ProcessCensus.commandLine(pid);
        if ((args.contains(MAIN_CLASS) || args.contains(VMM_MAIN_CLASS)) && args.contains("vmm")) {
            return Optional.of("livetap vmm");
        }
        if (args.contains("livetap-reaper")) {
            return Optional.of("livetap reaper");
        }
        // ping is livetap's here because it runs in a livetap namespace whose creator is dead
        return ProcessCensus.commandName(pid).filter("ping"::equals);
    }

    /**
     * The demo's temporary folders ({@code livetap-demo*} in the temp directory) are removed when no
     * {@code livetap demo} process runs and no lock file inside is held.
     */
    private void demoFolders(Path tmp, List<Removal> removed, List<String> problems) {
        if (!Files.isDirectory(tmp) || demoRunning()) {
            return;
        }
        try (DirectoryStream<Path> d = Files.newDirectoryStream(tmp, "livetap-demo*")) {
            for (Path folder : d) {
                if (!Files.isDirectory(folder, LinkOption.NOFOLLOW_LINKS) || anyLockHeld(folder)) {
                    continue;
                }
                if (!dryRun) {
                    try (var files = Files.walk(folder)) {
                        for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                            Files.deleteIfExists(f);
                        }
                    }
                }
                removed.add(new Removal("folder", folder.toString(), "a demo's temporary folder, no demo runs"));
            }
        } catch (IOException e) {
            problems.add("cannot scan " + tmp + " for demo folders: " + e.getMessage());
        }
    }

    private static boolean demoRunning() {
        return !ProcessCensus.processesWhose(args -> args.contains(MAIN_CLASS) && args.contains("demo")).isEmpty();
    }

    private static boolean anyLockHeld(Path folder) throws IOException {
        try (DirectoryStream<Path> d = Files.newDirectoryStream(folder, "*" + dev.livetap.engine.transport.SocketPaths.LOCK_SUFFIX)) {
            for (Path lock : d) {
                Optional<dev.livetap.nativeio.OwnedFd> held = dev.livetap.nativeio.linux.JnaOs.instance().unix().tryLock(lock);
                if (held.isEmpty()) {
                    return true;
                }
                held.get().close();
            }
        }
        return false;
    }
}
