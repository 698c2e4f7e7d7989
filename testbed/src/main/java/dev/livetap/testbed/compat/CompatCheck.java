package dev.livetap.testbed.compat;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.codec.StreamEncoder;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.Ping;
import dev.livetap.testbed.Retry;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The version policy against a real previous build (docs/stream-format.md, "Compatibility between
 * livetap versions"): a {@code livetap vmm} of the OLD build (its {@code lib/*} class path) and of
 * this build, as real processes in a private network namespace with a real 2-queue TAP, migrated
 * through the one driver ({@link LocalMigration}) both ways:
 * <ol>
 *   <li><b>upgrade</b>: OLD → NEW, what OLD writes by default, loaded by NEW;</li>
 *   <li><b>rollback, mis-pinned</b> (when this build can write a format the OLD build does not
 *       load): NEW with {@code x-stream-format} set to that format → OLD must refuse it naming the
 *       versions, and NEW must resume with its TAP (a refused rollback loses nothing);</li>
 *   <li><b>rollback</b>: NEW with {@code x-stream-format} = OLD's format → OLD.</li>
 * </ol>
 * After each: the same TAP device (ifindex), the VM running on exactly the expected process, the
 * other holding no TAP queue, and a ping answered; a ping runs through each completed migration and
 * must lose no frame. Run by {@code scripts/compat-check REF}, which builds REF in a git worktree.
 */
public final class CompatCheck {
    static final String GUEST = "10.0.1.2";
    static final String TAP = "lt0";
    static final String MAC = "52:54:00:12:34:56";
    static final int QUEUES = 2;
    static final int PING_COUNT = 400;

    /**
     * @param oldRef       what the OLD build is (a git ref, for the report)
     * @param oldClassPath the OLD build's class path, e.g. {@code TREE/distribution/target/livetap-V/livetap-V/lib/*}
     * @param oldMainClass the OLD build's main class that runs {@code vmm}; null: today's ({@code VmmMain})
     * @param oldFormat    the stream format the OLD build writes and loads (its {@code StreamEncoder.FORMAT_VERSION})
     * @param dir          logs and sockets
     */
    public record Options(String oldRef, String oldClassPath, String oldMainClass, int oldFormat, Path dir, Duration timeout) {
        public Options {
            Objects.requireNonNull(oldRef, "oldRef");
            Objects.requireNonNull(oldClassPath, "oldClassPath");
            Objects.requireNonNull(dir, "dir");
            Objects.requireNonNull(timeout, "timeout");
        }
    }

    /** One migration of the check and what it showed; {@code ok} when it did what the policy says. */
    public record Step(String name, String from, String to, int streamFormat, boolean expectCompleted, String status,
            String error, double downtimeMs, long totalMs, String ping, boolean ok, List<String> problems) {
        ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("step", name);
            o.put("from", from);
            o.put("to", to);
            o.put("x_stream_format", streamFormat);
            o.put("expected", expectCompleted ? "completed" : "failed");
            o.put("status", status);
            if (error != null) {
                o.put("error", error);
            }
            o.put("downtime_ms", downtimeMs);
            o.put("total_ms", totalMs);
            o.put("ping", ping);
            o.put("ok", ok);
            ArrayNode p = o.putArray("problems");
            problems.forEach(p::add);
            return o;
        }
    }

    /** The whole check. */
    public record Result(String oldRef, int oldFormat, int newFormat, List<Step> steps, long wallMs) {
        public boolean ok() {
            return !steps.isEmpty() && steps.stream().allMatch(Step::ok);
        }

        public ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("old_ref", oldRef);
            o.put("old_format", oldFormat);
            o.put("new_format", newFormat);
            o.put("ok", ok());
            o.put("wall_ms", wallMs);
            ArrayNode a = o.putArray("steps");
            steps.forEach(s -> a.add(s.toJson()));
            return o;
        }
    }

    private CompatCheck() {
    }

    /** Runs the check; every process and the namespace are gone when it returns or throws. */
    public static Result run(Options o, Consumer<String> progress) throws IOException, TimeoutException, InterruptedException {
        long t0 = System.nanoTime();
        Files.createDirectories(o.dir());
        List<Step> steps = new ArrayList<>();
        List<VmmProcess> processes = new ArrayList<>();
        try (NetworkNamespace ns = NetworkNamespace.create("compat")) {
            VmmProcess old1 = start(processes, ns, o, "old-a", true, false);
            VmmProcess new1 = start(processes, ns, o, "new-b", false, true);
            old1.awaitReady(VmmProcess.READY).connect();
            new1.awaitReady(VmmProcess.READY).connect();
            old1.addNic(TAP, QUEUES, false, MAC);
            new1.addNic(TAP, QUEUES, true, MAC);
            ns.addressUp(TAP, "10.0.1.1/24");
            int ifindex = ifindex(ns);
            if (!ns.awaitReply(GUEST, Duration.ofSeconds(10))) {
                throw new IOException("the OLD build's guest stand-in does not answer ping before any migration");
            }
            progress.accept("OLD " + o.oldRef() + " (format " + o.oldFormat() + ") runs the VM on " + TAP + " (ifindex "
                    + ifindex + ")");

            steps.add(migrate(ns, o, "upgrade", old1, new1, "old", "new", o.oldFormat(), true, ifindex, progress));

            int other = o.oldFormat() == 1 ? 2 : 1;
            if (StreamEncoder.writable(other)) {
                VmmProcess refusing = start(processes, ns, o, "old-c", true, true).awaitReady(VmmProcess.READY).connect();
                refusing.addNic(TAP, QUEUES, true, MAC);
                new1.execute("migrate-set-parameters", VmmProcess.args().put("x-stream-format", other));
                steps.add(migrate(ns, o, "rollback-mis-pinned", new1, refusing, "new", "old", other, false, ifindex, progress));
            }

            VmmProcess old2 = start(processes, ns, o, "old-d", true, true).awaitReady(VmmProcess.READY).connect();
            old2.addNic(TAP, QUEUES, true, MAC);
            new1.execute("migrate-set-parameters", VmmProcess.args().put("x-stream-format", o.oldFormat()));
            steps.add(migrate(ns, o, "rollback", new1, old2, "new", "old", o.oldFormat(), true, ifindex, progress));
        } finally {
            for (VmmProcess p : processes) {
                p.close();
            }
        }
        return new Result(o.oldRef(), o.oldFormat(), StreamEncoder.FORMAT_VERSION, steps,
                (System.nanoTime() - t0) / 1_000_000);
    }

    private static VmmProcess start(List<VmmProcess> processes, NetworkNamespace ns, Options o, String name, boolean old,
            boolean incoming) {
        VmmProcess.Options opts = VmmProcess.Options.of(o.dir(), name).withPrefix(ns.wrap(List.of())).withIncoming(incoming);
        if (old && o.oldMainClass() != null) {
            // a build from before VmmMain has no --die-with-parent either: closing the namespace ends it
            opts = opts.withMainClass(o.oldMainClass()).withPolicy(ChildLaunch.Policy.DETACHED);
        }
        VmmProcess p = VmmProcess.start(old ? opts.withClassPath(o.oldClassPath()) : opts);
        processes.add(p);
        return p;
    }

    private static Step migrate(NetworkNamespace ns, Options o, String name, VmmProcess from, VmmProcess to, String fromBuild,
            String toBuild, int format, boolean expectCompleted, int ifindex, Consumer<String> progress)
            throws IOException, TimeoutException, InterruptedException {
        List<String> problems = new ArrayList<>();
        LocalMigration.Result r;
        String pingSummary;
        try (Ping.Running ping = Ping.start(ns.wrap(List.of("ping", "-q", "-i", "0.005", "-c", String.valueOf(PING_COUNT),
                "-W", "2", GUEST)), o.dir().resolve("ping-" + name + ".out"))) {
            Thread.sleep(300); // the ping is under way when the freeze comes
            // a refusing target stays (exit-on-error=false), so its own error-desc can be read too
            LocalMigration.Hooks hooks = expectCompleted ? LocalMigration.Hooks.NONE : new LocalMigration.Hooks() {
                @Override
                public boolean targetStaysAfterFailure() {
                    return true;
                }
            };
            r = LocalMigration.run(LocalMigration.Options.of(from.qmpSocket(), to.qmpSocket())
                    .withMethod(LocalMigration.Method.LOCAL).withTimeout(o.timeout()), line -> { }, hooks);
            if (!ping.awaitExit(Duration.ofSeconds(30))) {
                problems.add("ping did not finish within 30 s");
            }
            Ping.Totals t = Ping.totals(ping.output()).orElse(null);
            pingSummary = t == null ? "no summary" : t.received() + "/" + t.transmitted();
            if (t == null || t.received() != t.transmitted() || t.transmitted() != PING_COUNT) {
                problems.add("ping through the migration lost frames: " + pingSummary);
            }
        }
        VmmProcess runs = expectCompleted ? to : from;
        VmmProcess idle = expectCompleted ? from : to;
        if (r.completed() != expectCompleted) {
            problems.add("expected " + (expectCompleted ? "completed" : "failed") + ", got " + r.status()
                    + (r.error() == null ? "" : ": " + r.error()));
        }
        if (!expectCompleted && (r.error() == null || !r.error().contains("stream format version " + format))) {
            problems.add("the source's error must name the stream format version " + format + ": " + r.error());
        }
        String targetError = r.targetInfo() == null ? null : r.targetInfo().path("error-desc").asText(null);
        if (!expectCompleted && (targetError == null || !targetError.contains("stream format version " + format))) {
            problems.add("the target's error must name the stream format version " + format + ": " + targetError);
        }
        if (!awaitRunState(runs, "running", Duration.ofSeconds(10))) {
            problems.add(runs.name() + " should run the VM: " + runState(runs));
        }
        if (expectCompleted && !"postmigrate".equals(runState(idle))) {
            problems.add(idle.name() + " should be in postmigrate: " + runState(idle));
        }
        if (ProcessCensus.fdKinds(idle.pid()).tun() > 0) { // -1: the process is gone (a failed target exits)
            problems.add(idle.name() + " still holds a TAP queue: " + ProcessCensus.describeFds(idle.pid()));
        }
        if (ProcessCensus.fdKinds(runs.pid()).tun() != QUEUES) {
            problems.add(runs.name() + " holds " + ProcessCensus.fdKinds(runs.pid()).tun() + " TAP queues, not " + QUEUES);
        }
        if (ifindex(ns) != ifindex) {
            problems.add("the TAP is not the same device any more (ifindex " + ifindex(ns) + ", was " + ifindex + ")");
        }
        if (!ns.awaitReply(GUEST, Duration.ofSeconds(10))) {
            problems.add("the guest stand-in on " + runs.name() + " does not answer ping");
        }
        Step s = new Step(name, fromBuild + " " + from.name(), toBuild + " " + to.name(), format, expectCompleted, r.status(),
                expectCompleted ? r.error() : "source: " + r.error() + "; target: " + targetError, r.downtimeMs(), r.totalMs(), pingSummary, problems.isEmpty(), problems);
        progress.accept(String.format("%-20s %s -> %s x-stream-format=%d: %s%s, downtime %.3f ms, total %d ms, ping %s%s",
                name, s.from(), s.to(), format, r.status(), s.error() == null ? "" : " (" + s.error() + ")", r.downtimeMs(),
                r.totalMs(), pingSummary, problems.isEmpty() ? " -- as the policy says" : " -- PROBLEMS: " + problems));
        return s;
    }

    private static int ifindex(NetworkNamespace ns) {
        return ns.link(TAP).ifindex();
    }

    private static String runState(VmmProcess p) {
        if (!p.isAlive()) {
            return "exited";
        }
        try {
            return p.runState();
        } catch (TimeoutException | RuntimeException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    private static boolean awaitRunState(VmmProcess p, String state, Duration timeout) {
        return Retry.until(timeout, Duration.ofMillis(20), () -> state.equals(runState(p)));
    }

    /**
     * {@code CompatCheck --old-ref REF --old-classpath CP --old-format N [--old-main CLASS] [--dir D] [--json]}: prints
     * a line per step (or the JSON); exit status 0 when every step did what the policy says, 1 if not,
     * 2 on a usage or set-up error.
     */
    public static void main(String[] args) {
        String ref = null;
        String cp = null;
        String main = null;
        int format = -1;
        Path dir = null;
        boolean json = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--old-ref" -> ref = args[++i];
                case "--old-classpath" -> cp = args[++i];
                case "--old-format" -> format = Integer.parseInt(args[++i]);
                case "--old-main" -> main = args[++i];
                case "--dir" -> dir = Path.of(args[++i]);
                case "--json" -> json = true;
                default -> {
                    System.err.println("compat-check: unknown argument " + args[i]);
                    System.exit(2);
                }
            }
        }
        if (ref == null || cp == null || format < 0) {
            System.err.println("usage: CompatCheck --old-ref REF --old-classpath CP --old-format N [--old-main CLASS] [--dir D] [--json]");
            System.exit(2);
        }
        int status;
        try {
            Path d = dir != null ? dir : Files.createTempDirectory("livetap-compat");
            boolean quiet = json;
            Result r = run(new Options(ref, cp, main, format, d, Duration.ofSeconds(60)), line -> {
                if (!quiet) {
                    System.out.println(line);
                }
            });
            if (json) {
                System.out.println(r.toJson().toPrettyString());
            } else {
                System.out.printf("compat-check %s (format %d) <-> this build (format %d): %s in %d ms (logs: %s)%n",
                        r.oldRef(), r.oldFormat(), r.newFormat(), r.ok() ? "OK" : "FAILED", r.wallMs(), d);
            }
            status = r.ok() ? 0 : 1;
        } catch (Exception e) {
            System.err.println("compat-check: " + e);
            status = 2;
        }
        System.exit(status);
    }
}
