package dev.livetap.testbed.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.engine.qmp.QmpClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One {@code livetap vmm} child JVM of the demo, started inside the demo's namespace with
 * {@code ip netns exec} (design decision 6; ip execs the JVM, so the process is the JVM). Output
 * goes to files in the demo's directory so that it can never block on a full pipe. It dies with the
 * demo ({@link ChildLaunch.Policy#DIES_WITH_PARENT}): a demo killed by SIGKILL leaves no VMM behind.
 */
final class DemoVmm implements AutoCloseable {
    static final Duration READY = Duration.ofSeconds(60);
    static final Duration QMP = Duration.ofSeconds(15);

    final String name;
    final Path qmp;
    final Path stdout;
    final Path stderr;
    private final Process process;
    private final long startedNanos = System.nanoTime();
    private QmpClient client;

    private DemoVmm(String name, Path qmp, Path stdout, Path stderr, Process process) {
        this.name = name;
        this.qmp = qmp;
        this.stdout = stdout;
        this.stderr = stderr;
        this.process = process;
    }

    /** Starts {@code livetap vmm --qmp DIR/NAME.qmp --name NAME [--incoming]} in {@code netns}; does not wait. */
    static DemoVmm start(String ip, String netns, Path dir, String name, boolean incoming) throws IOException {
        Path qmp = dir.resolve(name + ".qmp");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(ip, "netns", "exec", netns, java, "-cp", System.getProperty("java.class.path")));
        cmd.addAll(dev.livetap.testbed.launch.ChildLaunch.VMM_JVM_OPTIONS);
        cmd.add("-Xss1m");
        String jnaTmp = System.getProperty("jna.tmpdir");
        if (jnaTmp != null) {
            cmd.add("-Djna.tmpdir=" + jnaTmp);
        }
        cmd.addAll(List.of(dev.livetap.testbed.launch.ChildLaunch.VMM_MAIN_CLASS, "vmm", "--qmp", qmp.toString(), "--name", name));
        if (incoming) {
            cmd.add("--incoming");
        }
        cmd.addAll(ChildLaunch.vmmArguments(ChildLaunch.Policy.DIES_WITH_PARENT));
        Path out = dir.resolve(name + ".out");
        Path err = dir.resolve(name + ".err");
        Process p = ChildLaunch.start(new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()),
                ChildLaunch.Policy.DIES_WITH_PARENT);
        return new DemoVmm(name, qmp, out, err, p);
    }

    /** Whether the child printed {@code READY <qmp>} (its socket listens, warm-up done). */
    boolean isReady() throws IOException {
        return client != null || Files.readString(stdout, StandardCharsets.UTF_8).contains("READY " + qmp);
    }

    /** Throws if the child exited or missed its READY deadline while starting. */
    void checkStarting() throws IOException, TimeoutException {
        if (client != null) {
            return;
        }
        if (!process.isAlive() && !isReady()) {
            throw new IOException("VMM " + name + " exited (" + process.exitValue() + ") before READY: " + tail(stderr));
        }
        if (System.nanoTime() - startedNanos > READY.toNanos()) {
            throw new TimeoutException("VMM " + name + " not READY within " + READY.toSeconds() + " s: " + tail(stderr));
        }
    }

    /** Waits (bounded) for {@code READY <qmp>}, then connects. */
    DemoVmm awaitReady() throws IOException, TimeoutException, InterruptedException {
        if (client != null) {
            return this;
        }
        long deadline = System.nanoTime() + READY.toNanos();
        String line = "READY " + qmp;
        while (!Files.readString(stdout, StandardCharsets.UTF_8).contains(line)) {
            if (!process.isAlive()) {
                throw new IOException("VMM " + name + " exited (" + process.exitValue() + ") before READY: " + tail(stderr));
            }
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("VMM " + name + " not READY within " + READY.toSeconds() + " s: " + tail(stderr));
            }
            Thread.sleep(20);
        }
        client = QmpClient.connect(qmp, QMP);
        client.negotiate();
        return this;
    }

    JsonNode execute(String command, ObjectNode args) throws TimeoutException {
        return client.execute(command, args);
    }

    /** TAP netdev {@code net0} with {@code queues} queues on {@code ifname} and the virtio-net NIC {@code nic0}. */
    void addNic(String ifname, int queues, boolean incomingFds, String mac) throws TimeoutException {
        ObjectNode netdev = JsonNodeFactory.instance.objectNode().put("type", "tap").put("id", "net0").put("ifname", ifname)
                .put("queues", queues);
        if (incomingFds) {
            netdev.put("incoming-fds", true);
        }
        execute("netdev_add", netdev);
        execute("device_add", JsonNodeFactory.instance.objectNode().put("driver", "virtio-net-pci").put("id", "nic0")
                .put("netdev", "net0").put("mq", true).put("mac", mac));
    }

    long pid() {
        return process.pid();
    }

    /** {@code quit} over QMP, then a bounded wait; killed if it does not exit. Idempotent. */
    @Override
    public synchronized void close() {
        if (client != null) {
            if (process.isAlive()) {
                try {
                    client.execute("quit", null);
                } catch (Exception e) {
                    // gone or stuck: killed below
                }
            }
            client.close();
            client = null;
        }
        kill(Duration.ofSeconds(5));
    }

    /** SIGKILL without waiting (the demo is being torn down). */
    void destroy() {
        process.destroyForcibly();
    }

    /** Waits up to {@code grace} for the exit, then SIGKILL and a bounded wait. */
    void kill(Duration grace) {
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    static String tail(Path file) {
        try {
            String s = Files.readString(file, StandardCharsets.UTF_8).strip();
            return s.length() > 600 ? "..." + s.substring(s.length() - 600) : s;
        } catch (IOException e) {
            return "(no output)";
        }
    }
}
