package dev.livetap.testbed.launch;

import dev.livetap.testbed.selftest.HostChecks;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * How launchers start children whose lifetime they choose ({@link Policy}).
 *
 * <p>Parent death is told through a pipe, not PR_SET_PDEATHSIG: the child's stdin is a pipe whose
 * only write end is held by this JVM (the JDK closes every other inherited descriptor in a child,
 * so no sibling keeps it open). When this process ends, however it ends (SIGKILL included), the
 * kernel closes that end and the child reads end-of-file. PR_SET_PDEATHSIG instead fires when the
 * <em>thread</em> that forked the child exits, which in a JVM can be any short-lived thread.
 * Programs that cannot watch a pipe ({@code ping}) get {@link #killWithParentPrefix()}, and
 * whatever runs inside a namespace is caught by a {@link #reaper}.
 */
public final class ChildLaunch {
    /** The {@code livetap vmm} option that makes the VMM watch its stdin and stop at end-of-file. */
    public static final String DIE_WITH_PARENT_OPTION = dev.livetap.engine.vmm.VmmArguments.DIE_WITH_PARENT_OPTION;

    /**
     * JVM options of a VMM process of fewer than {@link #MANY_VMS} VMs (the distribution's launcher uses them for
     * {@code livetap vmm}; the demo, chaos and bench children too; {@link #vmmJvmOptions(int)} chooses). On 2
     * cores C2's compilations and G1's concurrent threads
     * compete with the switch-over for the CPUs: C1 only and the serial collector halved the 4-queue
     * downtime (p50 4.1-4.7 -> 2.3-2.7 ms) and took 1000 concurrent migrations from 680 to 1420 per
     * second. A VMM runs most of a switch-over's own code once per migration, too seldom for the usual
     * compile thresholds (200 calls): that code stayed interpreted for hundreds of migrations. Compiled
     * after a twentieth of the calls, livetap's and Pekko's code only (the start-up's JDK, Scala and
     * configuration code keeps the usual thresholds), the p50 fell by a third (docs/benchmarks.md, "The
     * VMM's compile thresholds and class path"). Not measured on larger hosts.
     */
    public static final List<String> VMM_JVM_OPTIONS = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-XX:CompileCommand=quiet", "-XX:CompileCommand=CompileThresholdScaling,dev.livetap.*::*,0.05",
            "-XX:CompileCommand=CompileThresholdScaling,org.apache.pekko.*::*,0.05");

    /** From this many VMs in one VMM process on, {@link #vmmJvmOptions(int)} lowers the thresholds for the whole JVM. */
    public static final int MANY_VMS = 16;

    /**
     * JVM options of a VMM process of {@link #MANY_VMS} VMs or more: {@link #VMM_JVM_OPTIONS} with every method
     * (the JDK's, Scala's and Jackson's too) compiled after a twentieth of the usual calls. Such a process runs the
     * switch-over's code hundreds of times; the JDK's methods on that path otherwise stay interpreted until their
     * 200th call, which took the first 20 migrations into every new generation of the fleet bench's 100-VM VMMs to
     * 3-25 ms. Whole-JVM thresholds: downtime p50 1.8 -> 1.2 ms, p99 10-12 -> 5.5-7.3 ms at 16 VMs and more; but
     * with 1-8 VMs the compilations they set off during a process's first two migrations cost more than they
     * save (p99 9 -> 15-24 ms at 2 and 8 VMs). Measured on 2 cores: docs/benchmarks.md, "Compile thresholds by
     * the number of VMs".
     */
    public static final List<String> MANY_VMS_JVM_OPTIONS = Stream.concat(VMM_JVM_OPTIONS.stream(),
            Stream.of("-XX:CompileThresholdScaling=0.05")).toList();

    /** The JVM options of a VMM process of {@code vms} VMs, as bin/livetap chooses them for {@code livetap vmm --vms N}. */
    public static List<String> vmmJvmOptions(int vms) {
        return vms >= MANY_VMS ? MANY_VMS_JVM_OPTIONS : VMM_JVM_OPTIONS;
    }

    /** The distribution's list of the engine's runtime jars ({@code lib/NAME.jar:...}), written at build time. */
    static final String VMM_CLASS_PATH_FILE = "lib/vmm.classpath";

    /** Jars of the distribution's {@code lib} that a VMM needs beside the engine's dependencies: the engine, its logging. */
    static final List<String> VMM_EXTRA_JARS = List.of("livetap-engine-", "livetap-tools-", "logback-classic-", "logback-core-");

    /**
     * The class path of a {@code livetap vmm} child. Run from the distribution ({@code livetap.home},
     * set by bin/livetap), the engine's runtime jars, the engine and its logging (the tools jar holds
     * logback.xml), as bin/livetap does: with every jar of {@code lib}, Pekko starts the serializers of
     * the cluster's jars in every VMM (0.4 s more to READY, docs/benchmarks.md, "The VMM's compile
     * thresholds and class path"). Elsewhere (tests, an
     * IDE) the JVM's own class path.
     */
    public static String vmmClassPath() {
        String full = System.getProperty("java.class.path");
        String home = System.getProperty("livetap.home");
        if (home == null) {
            return full;
        }
        return vmmClassPath(Path.of(home)).orElse(full);
    }

    /** The VMM's class path in the distribution at {@code home}; empty when it has no {@code lib/vmm.classpath}. */
    static Optional<String> vmmClassPath(Path home) {
        Path list = home.resolve(VMM_CLASS_PATH_FILE);
        Path lib = home.resolve("lib");
        try {
            List<String> jars = new ArrayList<>();
            for (String entry : Files.readString(list).trim().split(":")) {
                if (!entry.isBlank()) {
                    jars.add(home.resolve(entry.trim()).toString());
                }
            }
            try (var files = Files.list(lib)) {
                files.map(f -> f.getFileName().toString())
                        .filter(n -> n.endsWith(".jar") && VMM_EXTRA_JARS.stream().anyMatch(n::startsWith))
                        .sorted()
                        .forEach(n -> jars.add(lib.resolve(n).toString()));
            }
            return Optional.of(String.join(File.pathSeparator, jars));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The main class of a {@code livetap vmm} child: the engine's, without the command line. */
    public static final String VMM_MAIN_CLASS = dev.livetap.engine.vmm.VmmMain.class.getName();

    /** What happens to a child when its parent dies. */
    public enum Policy {
        /** The child sees end-of-file on its stdin and ends (a demo's or a test's VMMs). */
        DIES_WITH_PARENT,
        /** The child outlives its parent (a host agent's VMMs, which must survive an agent restart); stdin is /dev/null. */
        DETACHED
    }

    private ChildLaunch() {
    }

    /**
     * Starts {@code builder} with {@code policy}'s stdin. With {@link Policy#DIES_WITH_PARENT} the
     * returned process's {@link Process#getOutputStream()} is the watched pipe: keep the process
     * object and never close that stream while the child should live.
     */
    public static Process start(ProcessBuilder builder, Policy policy) throws IOException {
        builder.redirectInput(policy == Policy.DIES_WITH_PARENT ? ProcessBuilder.Redirect.PIPE
                : ProcessBuilder.Redirect.from(new File("/dev/null")));
        return builder.start();
    }

    /** Arguments of {@code livetap vmm} for {@code policy}. */
    public static List<String> vmmArguments(Policy policy) {
        return policy == Policy.DIES_WITH_PARENT ? List.of(DIE_WITH_PARENT_OPTION) : List.of();
    }

    /**
     * {@code setpriv --pdeathsig KILL} (util-linux), which execs the command (its pid stays the
     * command's), when setpriv is installed; empty otherwise (then only a {@link #reaper} catches
     * the program). The signal follows the thread that started the child, so start such children
     * from a thread that lives as long as they should.
     */
    public static List<String> killWithParentPrefix() {
        Optional<Path> setpriv = HostChecks.which("setpriv");
        return setpriv.map(p -> List.of(p.toString(), "--pdeathsig", "KILL")).orElse(List.of());
    }

    /**
     * A watcher that runs {@code command} once this process has died (its stdin pipe reaches
     * end-of-file). It ignores SIGINT/SIGTERM/SIGHUP, so a Ctrl-C that ends the parent does not end
     * the watcher before it has cleaned up; a parent that cleaned up by itself
     * {@linkplain Reaper#cancel cancels} it.
     */
    public static Reaper reaper(List<String> command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("sh", "-c",
                "trap '' INT TERM HUP; while read -r _; do :; done; exec \"$@\"", "livetap-reaper"));
        cmd.addAll(command);
        Process p = start(new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD), Policy.DIES_WITH_PARENT);
        return new Reaper(p);
    }

    /**
     * The clean-up a named network namespace needs when its creator died: SIGTERM to every process
     * in it, SIGKILL to those left after {@value #REAP_GRACE_TENTHS} tenths of a second, then
     * {@code ip netns del} (its TAPs go with it) and {@code rm -rf} of {@code directories}.
     */
    public static Reaper namespaceReaper(String ip, String namespace, List<Path> directories) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", NAMESPACE_REAPER, "livetap-reaper", ip, namespace));
        directories.forEach(d -> cmd.add(d.toString()));
        return reaper(cmd);
    }

    /** How long (tenths of a second) a namespace reaper waits after SIGTERM before SIGKILL. */
    public static final int REAP_GRACE_TENTHS = 30;

    private static final String NAMESPACE_REAPER = String.join("\n",
            "ip=$1; ns=$2; shift 2",
            "pids=$(\"$ip\" netns pids \"$ns\" 2>/dev/null)",
            "if [ -n \"$pids\" ]; then",
            "  kill -TERM $pids 2>/dev/null",
            "  i=0",
            "  while [ $i -lt " + REAP_GRACE_TENTHS + " ]; do",
            "    sleep 0.1",
            "    pids=$(\"$ip\" netns pids \"$ns\" 2>/dev/null)",
            "    [ -z \"$pids\" ] && break",
            "    i=$((i+1))",
            "  done",
            "  [ -n \"$pids\" ] && kill -KILL $pids 2>/dev/null",
            "fi",
            "\"$ip\" netns del \"$ns\" 2>/dev/null",
            "[ $# -gt 0 ] && rm -rf -- \"$@\"",
            "exit 0");

    /** A waiting reaper. */
    public static final class Reaper {
        private final Process process;

        private Reaper(Process process) {
            this.process = process;
        }

        public long pid() {
            return process.pid();
        }

        public boolean isAlive() {
            return process.isAlive();
        }

        /** The parent cleaned up by itself: ends the watcher (SIGKILL) without running its command. */
        public void cancel() {
            try {
                process.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
