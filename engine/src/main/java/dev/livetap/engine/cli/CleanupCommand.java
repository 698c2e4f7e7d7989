package dev.livetap.engine.cli;

import dev.livetap.engine.selftest.Commands;
import dev.livetap.engine.selftest.HostChecks;
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
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap cleanup}: removes what crashed livetap processes left behind. */
@Command(name = "cleanup", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Removes leftovers of livetap processes that died:",
            "  stale sockets (nobody accepts on them) in the given directories,",
            "  network namespaces named livetap-<letters><pid>[-n] whose creator pid is dead and no process uses,",
            "  and the TAP devices in them. Prints what it removed; --dry-run only prints."})
public final class CleanupCommand implements Callable<Integer> {
    /** livetap-t123-4 (tests), livetap-self123 (selftest), livetap-demo123 (demo): the creator's pid is the first number. */
    static final Pattern NAMESPACE = Pattern.compile("^livetap-[a-z]*?(\\d+)(-\\d+)?$");
    private static final Duration STEP = Duration.ofSeconds(10);

    @Option(names = "--dir", paramLabel = "DIR", description = "Directory to scan for stale sockets (repeatable; default /run/livetap).")
    List<Path> dirs = new ArrayList<>();

    @Option(names = "--no-netns", description = "Leave network namespaces alone.")
    boolean noNetns;

    @Option(names = "--dry-run", description = "Only print what would be removed.")
    boolean dryRun;

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
        if (json) {
            StringBuilder sb = new StringBuilder("{\"dry_run\": ").append(dryRun).append(", \"removed\": [");
            for (int i = 0; i < removed.size(); i++) {
                Removal r = removed.get(i);
                sb.append(i == 0 ? "" : ", ").append("{\"kind\": ").append(Json.quote(r.kind())).append(", \"name\": ")
                        .append(Json.quote(r.name())).append(", \"detail\": ").append(Json.quote(r.detail())).append('}');
            }
            sb.append("], \"problems\": [");
            for (int i = 0; i < problems.size(); i++) {
                sb.append(i == 0 ? "" : ", ").append(Json.quote(problems.get(i)));
            }
            System.out.println(sb.append("]}"));
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
                if (!isSocket(p) || accepting(p)) {
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
        Commands.Result list = Commands.run(STEP, List.of(ip, "netns", "list"));
        if (list.exitCode() != 0) {
            problems.add("ip netns list failed: " + list.output().strip());
            return;
        }
        for (String line : list.output().split("\n")) {
            String ns = line.trim().split("\\s+")[0];
            Matcher m = NAMESPACE.matcher(ns);
            if (!m.matches()) {
                continue;
            }
            String pid = m.group(1);
            if (Files.exists(Path.of("/proc", pid))) {
                continue; // its creator lives: not ours to remove
            }
            String users = Commands.run(STEP, List.of(ip, "netns", "pids", ns)).output().strip();
            if (!users.isEmpty()) {
                problems.add("namespace " + ns + " (creator pid " + pid + " dead) is still used by pids " + users.replace('\n', ' '));
                continue;
            }
            Commands.Result taps = Commands.run(STEP, List.of(ip, "-n", ns, "-o", "link", "show", "type", "tun"));
            for (String t : taps.output().split("\n")) {
                int a = t.indexOf(": ");
                int b = a < 0 ? -1 : t.indexOf(':', a + 2);
                if (a < 0 || b < 0) {
                    continue;
                }
                String tap = t.substring(a + 2, b).split("@")[0];
                if (!dryRun) {
                    Commands.Result del = Commands.run(STEP, List.of(ip, "-n", ns, "link", "del", tap));
                    if (del.exitCode() != 0) {
                        problems.add("cannot delete TAP " + tap + " in " + ns + ": " + del.output().strip());
                        continue;
                    }
                }
                removed.add(new Removal("tap", ns + "/" + tap, "in a dead process's namespace"));
            }
            if (!dryRun) {
                Commands.Result del = Commands.run(STEP, List.of(ip, "netns", "del", ns));
                if (del.exitCode() != 0) {
                    problems.add("cannot delete namespace " + ns + ": " + del.output().strip());
                    continue;
                }
            }
            removed.add(new Removal("netns", ns, "creator pid " + pid + " is dead"));
        }
    }
}
