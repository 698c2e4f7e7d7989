package dev.livetap.nativeio.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Test support only: a network namespace of this test process, {@code livetap-t<pid>-<n>}, with
 * {@code lo} up, for the tests of native, actors and engine (which cannot depend on testbed, where
 * the harness's {@code dev.livetap.testbed.NetworkNamespace} lives). Named by that class's rule, so
 * its stale rule covers these too: leftovers of a killed test JVM go with {@code livetap cleanup}
 * or the next testbed namespace creation. {@link #close()} deletes it even after failures.
 */
public final class PrivateNetns implements AutoCloseable {
    public static final String PREFIX = "livetap-t";
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(20);
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private final String name;
    private final String ip;
    private final AtomicBoolean closed = new AtomicBoolean();

    private PrivateNetns(String name, String ip) {
        this.name = name;
        this.ip = ip;
    }

    /** Creates the namespace and brings {@code lo} up; the namespace is deleted again if that fails. */
    public static PrivateNetns create() {
        String ip = HostCapabilities.ipCommand().orElseThrow(() -> new IllegalStateException("iproute2's ip is not installed"))
                .toString();
        String name = PREFIX + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        CommandResult.run(DEFAULT_TIMEOUT, List.of(ip, "netns", "add", name)).orThrow();
        PrivateNetns ns = new PrivateNetns(name, ip);
        try {
            ns.check("ip", "link", "set", "lo", "up");
        } catch (RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    public String name() {
        return name;
    }

    /** Runs {@code cmd} inside the namespace ({@code ip netns exec}), killed after {@code timeout}. */
    public CommandResult exec(Duration timeout, String... cmd) {
        return CommandResult.run(timeout, wrap(Arrays.asList(cmd)));
    }

    /** {@link #exec(Duration, String...)} with {@link #DEFAULT_TIMEOUT}. */
    public CommandResult exec(String... cmd) {
        return exec(DEFAULT_TIMEOUT, cmd);
    }

    /** Runs {@code cmd} inside the namespace and returns its output; throws with the output on failure. */
    public String check(String... cmd) {
        return exec(cmd).orThrow().output();
    }

    /** {@code ip netns exec NAME cmd...}: the command line that starts {@code cmd} inside this namespace. */
    public List<String> wrap(List<String> cmd) {
        if (closed.get()) {
            throw new IllegalStateException("namespace " + name + " is already deleted");
        }
        List<String> full = new ArrayList<>(List.of(ip, "netns", "exec", name));
        full.addAll(cmd);
        return full;
    }

    /** Deletes the namespace (processes still inside keep it alive until they exit). Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            CommandResult.run(DEFAULT_TIMEOUT, List.of(ip, "netns", "del", name)).orThrow();
        }
    }

    @Override
    public String toString() {
        return "netns " + name;
    }
}
