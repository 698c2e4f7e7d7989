package dev.livetap.testbed.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.launch.ChildLaunch;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The one launcher of a {@code livetap vmm} child: this JVM's java and class path, the VMM's JVM
 * options ({@link ChildLaunch#VMM_JVM_OPTIONS}), the engine's main class, a {@link ChildLaunch.Policy},
 * optionally a command prefix ({@code ip netns exec NS}: design decision 6; ip execs the JVM, so the
 * pid is the JVM's). READY is read one way: the child's stdout line {@code READY <qmp>} (one per VM
 * with {@code --vms N}), waited for on a condition with a bound. Logs stay in
 * {@code DIR/NAME.out} (stdout, or everything with {@link Options#mergeStderr}) and {@code DIR/NAME.err}.
 */
public final class VmmProcess implements AutoCloseable {
    public static final Duration READY = Duration.ofSeconds(60);
    public static final Duration QMP = Duration.ofSeconds(15);
    private static final String READY_MARK = "READY ";
    /**
     * More time to exit per VM of the process: the kernel removes each TAP device as its last fd closes (under the
     * rtnl lock), so a VMM of 2,000 TAPs (bench concurrent --vms 1000) still ran 10 s after SIGKILL.
     */
    private static final Duration PER_VM_EXIT = Duration.ofMillis(20);

    /**
     * How to launch.
     *
     * @param qmp         the QMP socket ({@code --qmp}); null: none given (a {@code --vms N --qmp-dir D} process)
     * @param prefix      runs the java command through it (e.g. {@code ip netns exec NS}); empty: directly
     * @param jvmOptions  JVM options before {@code extraJvmOptions}; {@link ChildLaunch#VMM_JVM_OPTIONS} by default
     * @param vmmArgs     further {@code livetap vmm} arguments
     * @param readyLines  how many {@code READY} lines mean ready (the VMs of a {@code --vms N} process)
     * @param mergeStderr stderr into stdout's log (one file, as the chaos runner keeps it)
     * @param classPath   the VMM's class path (e.g. {@code DIR/lib/*} of another livetap build); null: this JVM's
     * @param mainClass   the class whose main runs {@code vmm ...}; null: {@link ChildLaunch#VMM_MAIN_CLASS}
     *                    (builds before VmmMain existed ran it through their command line's main class)
     * @param launcher    an executable run as {@code LAUNCHER vmm ARGS} instead of this JVM's java (another livetap
     *                    build's {@code bin/livetap}: it chooses the JVM, its options and class path); null: java
     */
    public record Options(Path dir, String name, Path qmp, List<String> prefix, ChildLaunch.Policy policy,
            List<String> jvmOptions, List<String> extraJvmOptions, List<String> vmmArgs, boolean incoming, boolean paused,
            int readyLines, boolean mergeStderr, String classPath, String mainClass, Path launcher) {
        public Options {
            Objects.requireNonNull(dir, "dir");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(policy, "policy");
            prefix = List.copyOf(prefix);
            jvmOptions = List.copyOf(jvmOptions);
            extraJvmOptions = List.copyOf(extraJvmOptions);
            vmmArgs = List.copyOf(vmmArgs);
            if (readyLines < 1) {
                throw new IllegalArgumentException("readyLines must be at least 1: " + readyLines);
            }
        }

        /** {@code livetap vmm --qmp DIR/NAME.qmp --name NAME}, dying with this process, no prefix. */
        public static Options of(Path dir, String name) {
            return new Options(dir, name, dir.resolve(name + ".qmp"), List.of(), ChildLaunch.Policy.DIES_WITH_PARENT,
                    ChildLaunch.VMM_JVM_OPTIONS, List.of(), List.of(), false, false, 1, false, null, null, null);
        }

        public Options withQmp(Path value) {
            return with(c -> c.qmp = value);
        }

        public Options withPrefix(List<String> value) {
            return with(c -> c.prefix = value);
        }

        /** Runs inside the named network namespace {@code ns} ({@code ip netns exec}). */
        public Options inNamespace(String ip, String ns) {
            return withPrefix(List.of(ip, "netns", "exec", ns));
        }

        public Options withPolicy(ChildLaunch.Policy value) {
            return with(c -> c.policy = value);
        }

        public Options withJvmOptions(List<String> value) {
            return with(c -> c.jvmOptions = value);
        }

        public Options withExtraJvmOptions(List<String> value) {
            return with(c -> c.extraJvmOptions = value);
        }

        public Options withArgs(List<String> value) {
            return with(c -> c.vmmArgs = value);
        }

        public Options withIncoming(boolean value) {
            return with(c -> c.incoming = value);
        }

        public Options withPaused(boolean value) {
            return with(c -> c.paused = value);
        }

        public Options withReadyLines(int value) {
            return with(c -> c.readyLines = value);
        }

        public Options withMergedStderr(boolean value) {
            return with(c -> c.mergeStderr = value);
        }

        /** Runs the VMM of another livetap build: its {@code lib/*} class path (same main class and arguments). */
        public Options withClassPath(String value) {
            return with(c -> c.classPath = value);
        }

        /** Runs {@code vmm} through another main class (that of an older build's command line). */
        public Options withMainClass(String value) {
            return with(c -> c.mainClass = value);
        }

        /** Runs the VMM through {@code value} ({@code value vmm ARGS}): another livetap build's launcher. */
        public Options withLauncher(Path value) {
            return with(c -> c.launcher = value);
        }

        /** These options with what {@code change} sets on a copy of their fields (the withers' one constructor call). */
        private Options with(Consumer<Copy> change) {
            Copy c = new Copy(this);
            change.accept(c);
            return new Options(c.dir, c.name, c.qmp, c.prefix, c.policy, c.jvmOptions, c.extraJvmOptions, c.vmmArgs, c.incoming,
                    c.paused, c.readyLines, c.mergeStderr, c.classPath, c.mainClass, c.launcher);
        }

        /** The fields of an {@link Options}, to be changed before the copy is built (checked by the record's constructor). */
        private static final class Copy {
            final Path dir;
            final String name;
            Path qmp;
            List<String> prefix;
            ChildLaunch.Policy policy;
            List<String> jvmOptions;
            List<String> extraJvmOptions;
            List<String> vmmArgs;
            boolean incoming;
            boolean paused;
            int readyLines;
            boolean mergeStderr;
            String classPath;
            String mainClass;
            Path launcher;

            Copy(Options o) {
                dir = o.dir;
                name = o.name;
                qmp = o.qmp;
                prefix = o.prefix;
                policy = o.policy;
                jvmOptions = o.jvmOptions;
                extraJvmOptions = o.extraJvmOptions;
                vmmArgs = o.vmmArgs;
                incoming = o.incoming;
                paused = o.paused;
                readyLines = o.readyLines;
                mergeStderr = o.mergeStderr;
                classPath = o.classPath;
                mainClass = o.mainClass;
                launcher = o.launcher;
            }
        }

        /** The whole command line. */
        public List<String> command() {
            List<String> cmd = new ArrayList<>(prefix);
            if (launcher != null) {
                cmd.addAll(List.of(launcher.toString(), "vmm"));
                vmmArguments(cmd);
                return cmd;
            }
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            for (String o : jvmOptions) {
                cmd.add(o.replace("{name}", name)); // e.g. one JFR file per child (bench --jfr)
            }
            for (String o : extraJvmOptions) {
                cmd.add(o.replace("{name}", name));
            }
            String jnaTmp = System.getProperty("jna.tmpdir");
            if (jnaTmp != null) {
                cmd.add("-Djna.tmpdir=" + jnaTmp);
            }
            String home = System.getProperty("livetap.home");
            if (home != null && classPath == null) {
                cmd.add("-Dlivetap.home=" + home); // as bin/livetap passes it: which build a VMM runs (the agent reads it)
            }
            cmd.addAll(List.of("-cp", classPath == null ? ChildLaunch.vmmClassPath() : classPath,
                    mainClass == null ? ChildLaunch.VMM_MAIN_CLASS : mainClass, "vmm"));
            vmmArguments(cmd);
            return cmd;
        }

        private void vmmArguments(List<String> cmd) {
            if (qmp != null) {
                cmd.addAll(List.of("--qmp", qmp.toString(), "--name", name));
            }
            if (incoming) {
                cmd.add("--incoming");
            }
            if (paused) {
                cmd.add("--paused");
            }
            cmd.addAll(vmmArgs);
            cmd.addAll(ChildLaunch.vmmArguments(policy));
        }
    }

    private final Options options;
    private final ChildProcess child;
    private final long startedNanos = System.nanoTime();
    private QmpClient client;

    private VmmProcess(Options options, ChildProcess child) {
        this.options = options;
        this.child = child;
    }

    /** Starts the child; does not wait. */
    public static VmmProcess start(Options options) {
        ChildProcess child = ChildProcess.startWatched(options.command(), options.dir(), options.name(), options.policy(),
                READY_MARK, options.mergeStderr());
        return new VmmProcess(options, child);
    }

    /** Whether every READY line has arrived (never blocks). */
    public boolean isReady() {
        return child.hasMarked(options.readyLines());
    }

    /** Throws if the child exited before READY or is past {@link #READY} since its start (never blocks). */
    public void checkStarting() throws IOException, TimeoutException {
        if (isReady()) {
            return;
        }
        if (!child.isAlive()) {
            throw new IOException("VMM " + name() + " exited before READY: " + child.stderrTail(600));
        }
        if (System.nanoTime() - startedNanos > READY.toNanos()) {
            throw new TimeoutException("VMM " + name() + " not READY within " + READY.toSeconds() + " s: " + child.stderrTail(600));
        }
    }

    /**
     * Waits (bounded) for the READY line(s); with a QMP socket, checks the line names it.
     *
     * @throws IOException      the child exited first (its log's tail in the message)
     * @throws TimeoutException the time passed first
     */
    public VmmProcess awaitReady(Duration timeout) throws IOException, TimeoutException {
        List<String> lines;
        try {
            lines = child.awaitMarked(options.readyLines(), timeout);
        } catch (IOException e) {
            throw new IOException("VMM " + name() + " " + e.getMessage() + ": " + child.stderrTail(2000), e);
        } catch (TimeoutException e) {
            TimeoutException t = new TimeoutException("VMM " + name() + " not READY within " + timeout.toSeconds() + " s: "
                    + child.stderrTail(2000));
            t.initCause(e);
            throw t;
        }
        if (options.qmp() != null && !lines.get(0).equals(READY_MARK + options.qmp())) {
            throw new IOException("VMM " + name() + " printed " + lines.get(0) + ", not READY " + options.qmp());
        }
        return this;
    }

    /** {@link #awaitReady} within {@link #READY}, then connects to the QMP socket and negotiates. Idempotent. */
    public synchronized VmmProcess connect() throws IOException, TimeoutException {
        if (client == null) {
            awaitReady(READY);
            QmpClient c = QmpClient.connect(options.qmp(), QMP);
            c.negotiate();
            client = c;
        }
        return this;
    }

    /** The connected client ({@link #connect} first). */
    public QmpClient qmp() {
        if (client == null) {
            throw new IllegalStateException("VMM " + name() + " not connected");
        }
        return client;
    }

    public JsonNode execute(String command, ObjectNode args) throws TimeoutException {
        return qmp().execute(command, args);
    }

    public JsonNode execute(String command) throws TimeoutException {
        return qmp().execute(command, null);
    }

    public static ObjectNode args() {
        return JsonNodeFactory.instance.objectNode();
    }

    /** A multiqueue TAP netdev {@code net0} on {@code ifname} and the virtio-net NIC {@code nic0} on it. */
    public void addNic(String ifname, int queues, boolean incomingFds, String mac) throws TimeoutException {
        addNic(qmp(), ifname, queues, incomingFds, mac);
    }

    /**
     * The guest stand-in's NIC through {@code q}: TAP netdev {@code net0} on {@code ifname} (its queues passed in
     * by a migration with {@code incomingFds}) and virtio-net-pci {@code nic0} with {@code mac}.
     */
    public static void addNic(QmpClient q, String ifname, int queues, boolean incomingFds, String mac) throws TimeoutException {
        ObjectNode netdev = args().put("type", "tap").put("id", "net0").put("ifname", ifname).put("queues", queues);
        if (incomingFds) {
            netdev.put("incoming-fds", true).put("script", "no").put("downscript", "no");
        }
        q.execute("netdev_add", netdev);
        q.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0").put("mq", true)
                .put("mac", mac));
    }

    public String runState() throws TimeoutException {
        return execute("query-status").path("status").asText();
    }

    public String name() {
        return options.name();
    }

    public Path qmpSocket() {
        return options.qmp();
    }

    public Options options() {
        return options;
    }

    /** The process (its pid is the JVM's: a prefix such as {@code ip netns exec} execs it). */
    public ChildProcess process() {
        return child;
    }

    public long pid() {
        return child.pid();
    }

    public boolean isAlive() {
        return child.isAlive();
    }

    /** The exit code once it ended within {@code timeout}; empty while it runs. */
    public OptionalInt awaitExit(Duration timeout) {
        return child.awaitExit(timeout);
    }

    /** Its log: stdout (and stderr when merged). */
    public Path log() {
        return child.stdoutFile();
    }

    public String stderr() {
        return child.stderr();
    }

    public String tail() {
        return child.stderrTail(2000);
    }

    public String describe() {
        return child.describe();
    }

    /** Sends {@code sig} with kill(1) (SIGSTOP and SIGCONT have no JDK API). */
    public void signal(String sig) throws IOException {
        try {
            Process p = new ProcessBuilder("kill", "-" + sig, String.valueOf(pid())).redirectErrorStream(true).start();
            if (!p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException("kill -" + sig + " " + pid() + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** SIGKILL now (a fault, not a stop), then a bounded reap. */
    public void sigkill() {
        closeClient();
        child.kill();
    }

    /** SIGKILL without waiting (a run being torn down). */
    public void destroy() {
        child.destroy();
    }

    /** SIGTERM, up to {@code grace} for the exit, then SIGKILL and a bounded reap. */
    public void kill(Duration grace) {
        closeClient();
        child.terminate(grace);
    }

    private synchronized void closeClient() {
        if (client != null) {
            client.close();
            client = null;
        }
    }

    /** {@code quit} over QMP when connected, up to 5 s for the exit, then SIGTERM/SIGKILL (bounded). Idempotent. */
    @Override
    public void close() {
        QmpClient c;
        synchronized (this) {
            c = client;
        }
        if (c != null && child.isAlive()) {
            try {
                c.execute("quit", null);
            } catch (RuntimeException | TimeoutException gone) {
                // gone or stuck: ended below
            }
        }
        closeClient();
        if (child.awaitExit(c != null ? Duration.ofSeconds(5) : Duration.ZERO).isEmpty()) {
            Duration perVm = PER_VM_EXIT.multipliedBy(options.readyLines());
            child.terminate(Duration.ofSeconds(5).plus(perVm), Duration.ofSeconds(10).plus(perVm));
        }
    }
}
