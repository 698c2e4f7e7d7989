package dev.livetap.testbed;

import dev.livetap.testbed.launch.ChildLaunch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A named network namespace of this process, with {@code lo} up and IPv6 off (no MLD or DAD frames
 * beside the harness's traffic): every TAP and every packet of a harness run lives in one. The
 * project's one rule for namespaces: the name is {@code livetap-<purpose><creator pid>-<n>}
 * ({@link #NAME}); a {@linkplain ChildLaunch#namespaceReaper reaper} deletes it with everything
 * inside if this JVM dies unannounced; {@link #close()} kills what still runs inside and deletes
 * it; a namespace whose creator is dead is {@linkplain #isStale stale} (the first creation in a
 * process removes the unused stale ones, {@code livetap cleanup} all of them).
 */
public final class NetworkNamespace implements AutoCloseable {
    /** {@code livetap-t123-4}, {@code livetap-chaos123-1}, and the older {@code livetap-self123}: the creator's pid is the first number. */
    public static final Pattern NAME = Pattern.compile("^livetap-[a-z]*?(\\d+)(-\\d+)?$");
    private static final Pattern PURPOSE = Pattern.compile("[a-z]+");
    private static final Duration STEP = Duration.ofSeconds(20);
    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static final AtomicBoolean STALE_REMOVED = new AtomicBoolean();

    private final String name;
    private final ChildLaunch.Reaper reaper;
    private boolean closed;

    private NetworkNamespace(String name, ChildLaunch.Reaper reaper) {
        this.name = name;
        this.reaper = reaper;
    }

    /** Empty when this process can make namespaces (root, iproute2); else why not. */
    public static Optional<String> unavailabilityCause() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return Optional.of("network namespaces need root (user " + System.getProperty("user.name") + ")");
        }
        return ChildProcess.findOnPath("ip").isPresent() ? Optional.empty() : Optional.of("iproute2's ip is not installed");
    }

    /** {@link #create(String, List) create("q", no directories)}. */
    public static NetworkNamespace create() {
        return create("q", List.of());
    }

    /** {@link #create(String, List) create(purpose, no directories)}. */
    public static NetworkNamespace create(String purpose) {
        return create(purpose, List.of());
    }

    /**
     * Creates {@code livetap-<purpose><pid>-<n>}; it is deleted again if setting it up fails.
     *
     * @param purpose lower-case letters naming the user ({@code chaos}, {@code demo}, {@code b} for bench ...)
     * @param reapDirectories removed by the reaper too when this JVM dies unannounced
     */
    public static NetworkNamespace create(String purpose, List<Path> reapDirectories) {
        if (!PURPOSE.matcher(purpose).matches()) {
            throw new IllegalArgumentException("a namespace purpose is lower-case letters, not '" + purpose + "'");
        }
        if (STALE_REMOVED.compareAndSet(false, true)) {
            removeUnusedStale();
        }
        String name = "livetap-" + purpose + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        HostCommand.run(STEP, List.of("ip", "netns", "add", name)).orThrow();
        ChildLaunch.Reaper reaper;
        try {
            reaper = ChildLaunch.namespaceReaper("ip", name, reapDirectories);
        } catch (IOException e) {
            HostCommand.run(STEP, List.of("ip", "netns", "del", name));
            throw new UncheckedIOException("cannot start the reaper of namespace " + name, e);
        }
        NetworkNamespace ns = new NetworkNamespace(name, reaper);
        try {
            ns.run("ip", "link", "set", "lo", "up");
            ns.run("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
                    + "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6");
        } catch (RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    public String name() {
        return name;
    }

    /** {@code ip netns exec NAME command...}: the command line that starts {@code command} inside. */
    public List<String> wrap(List<String> command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(command);
        return full;
    }

    /** Runs {@code command} inside, killed after {@code timeout}: its exit code and output. */
    public HostCommand.Result exec(Duration timeout, String... command) {
        return HostCommand.run(timeout, wrap(Arrays.asList(command)));
    }

    /** Runs {@code command} inside, bounded; throws with its output when it fails. */
    public String run(String... command) {
        return exec(STEP, command).orThrow().output();
    }

    /**
     * A persistent multiqueue TAP with a vnet header ({@code ip tuntap}), {@code hostCidr} on it and
     * up: a QEMU {@code ifname=} netdev or livetap's native layer attaches its queues later.
     */
    public void addMultiqueueTap(String ifname, String hostCidr) {
        run("ip", "tuntap", "add", "dev", ifname, "mode", "tap", "multi_queue", "vnet_hdr");
        addressUp(ifname, hostCidr);
    }

    /** {@code hostCidr} on the link {@code ifname} (e.g. a TAP a VMM created), and the link up. */
    public void addressUp(String ifname, String hostCidr) {
        run("ip", "addr", "add", hostCidr, "dev", ifname);
        run("ip", "link", "set", ifname, "up");
    }

    /** What {@code ip -o link show IFNAME} says inside of the link {@code ifname}; throws when there is none. */
    public Link link(String ifname) {
        return Link.parse(run("ip", "-o", "link", "show", ifname));
    }

    /** A link as {@code ip -o link show} prints it: its ifindex (the same device keeps it) and an Ethernet link's MAC. */
    public record Link(int ifindex, Optional<String> mac) {
        /** Parses one line of {@code ip -o link show} ({@code 5: lt0: <...> ... link/ether 02:... brd ...}). */
        public static Link parse(String ipOneLine) {
            String line = ipOneLine.strip();
            int ether = line.indexOf("link/ether ");
            return new Link(Integer.parseInt(line.substring(0, line.indexOf(':')).trim()),
                    ether < 0 ? Optional.empty() : Optional.of(line.substring(ether + 11, ether + 28)));
        }
    }

    /** One ping of {@code address} from inside, waiting at most a second. */
    public boolean pingOnce(String address) {
        return exec(Duration.ofSeconds(5), Ping.once(address).toArray(String[]::new)).ok();
    }

    /** Pings until {@code address} answers; false when {@code timeout} passes first. */
    public boolean awaitReply(String address, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() - deadline < 0) {
            if (pingOnce(address)) {
                return true;
            }
        }
        return false;
    }

    /** SIGKILL to every process still inside, then {@code ip netns del} (its TAPs go with it). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        String pids = processesInside(name);
        if (!pids.isEmpty()) {
            List<String> kill = new ArrayList<>(List.of("kill", "-KILL"));
            kill.addAll(Arrays.asList(pids.split("\\s+")));
            HostCommand.run(STEP, kill);
        }
        HostCommand.run(STEP, List.of("ip", "netns", "del", name)).orThrow();
        reaper.cancel();
    }

    @Override
    public String toString() {
        return "netns " + name;
    }

    /** The creator's pid when {@code namespace} is named by {@link #NAME}; empty for anybody else's. */
    public static OptionalLong creatorPid(String namespace) {
        Matcher m = NAME.matcher(namespace);
        return m.matches() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
    }

    /** The stale rule: a livetap namespace ({@link #NAME}) whose creator process is gone. */
    public static boolean isStale(String namespace) {
        OptionalLong pid = creatorPid(namespace);
        return pid.isPresent() && !Files.exists(Path.of("/proc", String.valueOf(pid.getAsLong())));
    }

    /** The names {@code ip netns list} shows; a failed listing throws with ip's output. */
    public static List<String> list() {
        List<String> names = new ArrayList<>();
        for (String line : HostCommand.run(STEP, List.of("ip", "netns", "list")).orThrow().output().split("\n")) {
            String ns = line.trim().split("\\s+")[0];
            if (!ns.isEmpty()) {
                names.add(ns);
            }
        }
        return names;
    }

    /** The pids {@code ip netns pids} lists for {@code namespace}, blank-separated; empty when none. */
    public static String processesInside(String namespace) {
        return HostCommand.run(STEP, List.of("ip", "netns", "pids", namespace)).output().strip();
    }

    /** Deletes the stale namespaces nothing runs in (best effort; {@code livetap cleanup} reports what it cannot). */
    public static int removeUnusedStale() {
        int deleted = 0;
        try {
            for (String ns : list()) {
                if (isStale(ns) && processesInside(ns).isEmpty()
                        && HostCommand.run(STEP, List.of("ip", "netns", "del", ns)).ok()) {
                    deleted++;
                }
            }
        } catch (RuntimeException e) {
            return deleted; // no ip, or a listing that failed: nothing to remove here
        }
        return deleted;
    }
}
