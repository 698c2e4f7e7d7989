package dev.livetap.testbed.chaos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The chaos runner's private network namespace {@code livetap-chaos<pid>}: every TAP and every
 * packet of a chaos batch lives in it. {@link #close()} deletes it; leftovers of dead runners are
 * removed at creation (never those of a live process).
 */
public final class Netns implements AutoCloseable {
    static final String PREFIX = "livetap-chaos";
    private final String name;
    private boolean closed;

    private Netns(String name) {
        this.name = name;
    }

    static Netns create() {
        cleanupStale();
        Netns ns = new Netns(PREFIX + ProcessHandle.current().pid());
        run(Duration.ofSeconds(10), List.of("ip", "netns", "add", ns.name)).orThrow();
        try {
            ns.check("ip", "link", "set", "lo", "up");
            ns.check("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
        } catch (RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    String name() {
        return name;
    }

    List<String> wrap(List<String> cmd) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(cmd);
        return full;
    }

    Result exec(Duration timeout, String... cmd) {
        return run(timeout, wrap(Arrays.asList(cmd)));
    }

    String check(String... cmd) {
        return exec(Duration.ofSeconds(10), cmd).orThrow().output();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            run(Duration.ofSeconds(10), List.of("ip", "netns", "del", name));
        }
    }

    private static void cleanupStale() {
        Result r = run(Duration.ofSeconds(10), List.of("ip", "netns", "list"));
        for (String line : r.output().lines().toList()) {
            String n = line.split("\\s+")[0];
            if (!n.startsWith(PREFIX)) {
                continue;
            }
            try {
                long pid = Long.parseLong(n.substring(PREFIX.length()));
                if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    continue;
                }
            } catch (NumberFormatException e) {
                continue;
            }
            run(Duration.ofSeconds(10), List.of("ip", "netns", "del", n));
        }
    }

    public record Result(int exit, String output, List<String> cmd) {
        boolean ok() {
            return exit == 0;
        }

        Result orThrow() {
            if (exit != 0) {
                throw new IllegalStateException(String.join(" ", cmd) + " exited " + exit + ": " + output.strip());
            }
            return this;
        }
    }

    /** Runs a command, output merged, killed after {@code timeout} (exit -1). */
    public static Result run(Duration timeout, List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                return new Result(-1, "timed out after " + timeout.toMillis() + " ms", cmd);
            }
            return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8), cmd);
        } catch (IOException e) {
            return new Result(-1, e.toString(), cmd);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted", cmd);
        }
    }
}
