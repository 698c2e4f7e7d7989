package dev.livetap.testbed;

import dev.livetap.testbed.launch.ChildLaunch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A named network namespace {@code livetap-q<pid>-<n>} of this process, with {@code lo} up and IPv6
 * off (no MLD or DAD frames beside the test's traffic). The project's one rule: the name carries
 * the creator's pid ({@code livetap cleanup} removes namespaces of dead creators), a
 * {@linkplain ChildLaunch#namespaceReaper reaper} deletes it with everything inside if this JVM
 * dies unannounced, and {@link #close()} kills what still runs inside and deletes it.
 */
public final class NetworkNamespace implements AutoCloseable {
    public static final String PREFIX = "livetap-q";
    private static final Duration STEP = Duration.ofSeconds(20);
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private final String name;
    private final ChildLaunch.Reaper reaper;
    private boolean closed;

    private NetworkNamespace(String name, ChildLaunch.Reaper reaper) {
        this.name = name;
        this.reaper = reaper;
    }

    /** Empty when this process can make namespaces (root, iproute2); else why not. */
    public static java.util.Optional<String> unavailabilityCause() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return java.util.Optional.of("network namespaces need root (user " + System.getProperty("user.name") + ")");
        }
        return ChildProcess.findOnPath("ip").isPresent() ? java.util.Optional.empty()
                : java.util.Optional.of("iproute2's ip is not installed");
    }

    /** Creates the namespace; it is deleted again if setting it up fails. */
    public static NetworkNamespace create() {
        String name = PREFIX + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        HostCommand.run(STEP, List.of("ip", "netns", "add", name)).orThrow();
        ChildLaunch.Reaper reaper;
        try {
            reaper = ChildLaunch.namespaceReaper("ip", name, List.of());
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

    /** {@code ip netns exec NAME command...}. */
    public List<String> wrap(List<String> command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(command);
        return full;
    }

    /** Runs {@code command} inside, bounded; throws with its output when it fails. */
    public String run(String... command) {
        return HostCommand.run(STEP, wrap(Arrays.asList(command))).orThrow().output();
    }

    /**
     * A persistent multiqueue TAP with a vnet header ({@code ip tuntap}), {@code hostCidr} on it and
     * up: a QEMU {@code ifname=} netdev or livetap's native layer attaches its queues later.
     */
    public void addMultiqueueTap(String ifname, String hostCidr) {
        run("ip", "tuntap", "add", "dev", ifname, "mode", "tap", "multi_queue", "vnet_hdr");
        run("ip", "addr", "add", hostCidr, "dev", ifname);
        run("ip", "link", "set", ifname, "up");
    }

    /** One ping of {@code address} from inside, waiting at most a second. */
    public boolean pingOnce(String address) {
        return HostCommand.run(Duration.ofSeconds(5), wrap(List.of("ping", "-n", "-c", "1", "-W", "1", address))).ok();
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

    /** {@code ping -c count -i interval} from inside, bounded by {@code -w}: its exit code and output. */
    public HostCommand.Result ping(String address, int count, double intervalSeconds) {
        int deadlineSeconds = (int) Math.ceil(count * intervalSeconds) + 5;
        return HostCommand.run(Duration.ofSeconds(deadlineSeconds + 10), wrap(List.of("ping", "-n", "-c", String.valueOf(count),
                "-i", String.valueOf(intervalSeconds), "-W", "1", "-w", String.valueOf(deadlineSeconds), address)));
    }

    /** SIGKILL to every process still inside, then {@code ip netns del} (its TAPs go with it). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        String pids = HostCommand.run(STEP, List.of("ip", "netns", "pids", name)).output().strip();
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
}
