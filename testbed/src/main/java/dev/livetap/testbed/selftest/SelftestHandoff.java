package dev.livetap.testbed.selftest;

import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.selftest.HostChecks.Check;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The selftest's real hand-off: a private network namespace, a source process that opens an
 * N-queue TAP there and sends its queue fds over a path socket, a target process that checks
 * them (fstat, TUNGETIFF, kcmp) and then reads a frame that {@code ping} in the namespace
 * causes - after the source has exited, so the TAP lives on only through the passed fds.
 * The namespace and the children are removed on every path out.
 */
public final class SelftestHandoff {
    private static final Duration STEP = Duration.ofSeconds(HandoffChild.WAIT_SECONDS + 5);
    private static final String IFNAME = "ltself0";

    private SelftestHandoff() {
    }

    public static Check run(int queues, String childMain) {
        String name = queues + "-queue TAP hand-off";
        String ip = HostChecks.which("ip").map(Path::toString).orElse("ip");
        String ping = HostChecks.which("ping").map(Path::toString).orElse("ping");
        NetworkNamespace ns = null;
        Path dir = null;
        List<Child> children = new ArrayList<>();
        long started = System.nanoTime();
        try {
            dir = Files.createTempDirectory("livetap-selftest");
            Path socket = dir.resolve("handoff.sock");
            ns = NetworkNamespace.create("self");

            Child source = Child.start(ns.wrap(List.of()), childMain, "source", socket, IFNAME, queues);
            children.add(source);
            source.expect("OPENED");
            Child target = Child.start(ns.wrap(List.of()), childMain, "target", socket, IFNAME, queues);
            children.add(target);
            String received = target.expect("RECEIVED");
            source.expect("ACKED");
            if (!source.process.waitFor(STEP.toSeconds(), TimeUnit.SECONDS) || source.process.exitValue() != 0) {
                return new Check(name, false, "the source process did not exit cleanly: " + source.output());
            }
            // Only the target holds the queues now; traffic towards the guest address makes frames.
            ns.run(ip, "addr", "add", "10.0.1.1/24", "dev", IFNAME);
            ns.run(ip, "link", "set", IFNAME, "up");
            ns.exec(Duration.ofSeconds(5), ping, "-c", "2", "-i", "0.2", "-W", "1", "10.0.1.2");
            String frame = target.expect("FRAME");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            String[] r = received.split(" ");
            return new Check(name, true, String.format("%s fds of %s (flags %s) passed to a second process; it read %s (%d ms)",
                    r[2], r[1], r[3], frame.substring("FRAME ".length()), ms));
        } catch (RuntimeException | IOException e) {
            String out = children.isEmpty() ? "" : " | " + children.get(children.size() - 1).output();
            return new Check(name, false, e.getMessage() + out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Check(name, false, "interrupted");
        } finally {
            children.forEach(Child::kill);
            if (ns != null) {
                ns.close();
            }
            if (dir != null) {
                try (var files = Files.list(dir)) {
                    for (Path p : files.toList()) {
                        Files.deleteIfExists(p);
                    }
                    Files.deleteIfExists(dir);
                } catch (IOException e) {
                    System.err.println("selftest: cannot remove " + dir + ": " + e.getMessage());
                }
            }
        }
    }

    /** A child JVM inside the namespace, its stdout lines collected by a daemon reader. */
    private static final class Child {
        final Process process;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final StringBuilder all = new StringBuilder();

        private Child(Process process) {
            this.process = process;
            Thread reader = new Thread(this::pump, "selftest-child-" + process.pid());
            reader.setDaemon(true);
            reader.start();
        }

        static Child start(List<String> prefix, String main, String role, Path socket, String ifname, int queues) throws IOException {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            List<String> cmd = new ArrayList<>(prefix);
            cmd.addAll(List.of(java, "-cp", System.getProperty("java.class.path"),
                    "-Djna.tmpdir=" + System.getProperty("jna.tmpdir", System.getProperty("java.io.tmpdir")),
                    "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                    main, role, socket.toString(), ifname, String.valueOf(queues)));
            return new Child(new ProcessBuilder(cmd).redirectErrorStream(true).start());
        }

        private void pump() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (all) {
                        all.append(line).append('\n');
                    }
                    lines.add(line);
                }
            } catch (IOException e) {
                lines.add("ERROR reading child output: " + e.getMessage());
            }
        }

        /** The first line starting with {@code prefix}; fails on an ERROR line, an exit, or after the step's time. */
        String expect(String prefix) throws InterruptedException {
            long deadline = System.nanoTime() + STEP.toNanos();
            while (System.nanoTime() < deadline) {
                String line = lines.poll(50, TimeUnit.MILLISECONDS);
                if (line == null) {
                    if (!process.isAlive() && lines.isEmpty()) {
                        throw new IllegalStateException("child exited (" + process.exitValue() + ") before '" + prefix + "'");
                    }
                    continue;
                }
                if (line.startsWith(prefix)) {
                    return line;
                }
                if (line.startsWith("ERROR")) {
                    throw new IllegalStateException(line.substring(6));
                }
            }
            throw new IllegalStateException("no '" + prefix + "' from the child within " + STEP.toSeconds() + " s");
        }

        String output() {
            synchronized (all) {
                return all.toString().replace('\n', ' ').strip();
            }
        }

        void kill() {
            if (process.isAlive()) {
                process.destroyForcibly();
                try {
                    process.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

}
