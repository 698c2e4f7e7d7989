package dev.livetap.testbed.chaos;

import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.NetworkNamespace;
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

/**
 * One {@code livetap vmm} child JVM inside the chaos namespace (design decision 6: a process that
 * opens TAPs starts inside its namespace), its QMP client, signals, and its descriptor counts. It
 * dies with the chaos run ({@link ChildLaunch.Policy#DIES_WITH_PARENT}).
 */
final class Vmm implements AutoCloseable {
    static final Duration READY_MAX = Duration.ofSeconds(90);
    static final Duration QMP_REPLY_MAX = Duration.ofSeconds(10);


    final String name;
    final Path qmpPath;
    final boolean incoming;
    private final Process process;
    private final Path out;
    private QmpClient qmp;
    boolean stopped;

    private Vmm(String name, Path qmpPath, boolean incoming, Process process, Path out) {
        this.name = name;
        this.qmpPath = qmpPath;
        this.incoming = incoming;
        this.process = process;
        this.out = out;
    }

    /** Starts {@code livetap vmm --qmp DIR/NAME.qmp --name NAME [--incoming]} in {@code ns}; does not wait. */
    static Vmm start(NetworkNamespace ns, Path dir, String name, boolean incoming, int migrationTimeoutS) throws IOException {
        Path qmp = dir.resolve(name + ".qmp");
        Path out = dir.resolve(name + ".out");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(dev.livetap.testbed.launch.ChildLaunch.VMM_JVM_OPTIONS);
        cmd.add("-Xss512k");
        String jnaTmp = System.getProperty("jna.tmpdir");
        if (jnaTmp != null) {
            cmd.add("-Djna.tmpdir=" + jnaTmp);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), dev.livetap.testbed.launch.ChildLaunch.VMM_MAIN_CLASS, "vmm", "--qmp",
                qmp.toString(), "--name", name, "--migration-timeout", String.valueOf(migrationTimeoutS), "--no-warm-up"));
        if (incoming) {
            cmd.add("--incoming");
        }
        cmd.addAll(ChildLaunch.vmmArguments(ChildLaunch.Policy.DIES_WITH_PARENT));
        Process p = ChildLaunch.start(new ProcessBuilder(ns.wrap(cmd)).redirectErrorStream(true).redirectOutput(out.toFile()),
                ChildLaunch.Policy.DIES_WITH_PARENT);
        return new Vmm(name, qmp, incoming, p, out);
    }

    /** Waits (bounded) for {@code READY <qmp>}, then connects and negotiates. */
    Vmm awaitReady() throws Exception {
        long deadline = System.nanoTime() + READY_MAX.toNanos();
        String ready = "READY " + qmpPath;
        while (true) {
            String text = Files.exists(out) ? Files.readString(out, StandardCharsets.UTF_8) : "";
            if (text.contains(ready)) {
                break;
            }
            if (!process.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException(name + " did not print " + ready + " (alive " + process.isAlive() + "): " + tail());
            }
            Thread.sleep(20);
        }
        qmp = QmpClient.connect(qmpPath, QMP_REPLY_MAX);
        qmp.negotiate();
        return this;
    }

    boolean ready() {
        return qmp != null;
    }

    JsonNode execute(String command, ObjectNode args) throws Exception {
        return qmp.execute(command, args);
    }

    JsonNode execute(String command) throws Exception {
        return qmp.execute(command, null);
    }

    static ObjectNode args() {
        return JsonNodeFactory.instance.objectNode();
    }

    String migrationStatus() throws Exception {
        return execute("query-migrate").path("status").asText("none");
    }

    /** query-migrate's x-migration-id ("" before any migration). */
    String migrationId() throws Exception {
        return execute("query-migrate").path("x-migration-id").asText("");
    }

    /**
     * query-migrate's status of a migration other than {@code previousId}; "stale" while the VM
     * still reports that one (a final status of the last run must never end this run's wait).
     */
    String migrationStatusAfter(String previousId) throws Exception {
        JsonNode m = execute("query-migrate");
        return m.path("x-migration-id").asText("").equals(previousId) ? "stale" : m.path("status").asText("none");
    }

    /** query-migrate's error-desc, or null. */
    String migrationError() throws Exception {
        JsonNode e = execute("query-migrate").path("error-desc");
        return e.isMissingNode() || e.isNull() ? null : e.asText();
    }

    String runState() throws Exception {
        return execute("query-status").path("status").asText();
    }

    /** A multiqueue TAP netdev {@code net0} on {@code ifname} and a virtio-net NIC on it. */
    void addNic(String ifname, int queues) throws Exception {
        ObjectNode netdev = args().put("type", "tap").put("id", "net0").put("ifname", ifname).put("queues", queues);
        if (incoming) {
            netdev.put("incoming-fds", true);
        }
        execute("netdev_add", netdev);
        execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0").put("mq", true)
                .put("mac", "52:54:00:12:34:56"));
    }

    long pid() {
        // ip netns exec execs the command: the child's pid is the JVM's
        return process.pid();
    }

    boolean alive() {
        return process.isAlive();
    }

    void signal(String sig) {
        HostCommand.run(Duration.ofSeconds(5), List.of("kill", "-" + sig, String.valueOf(pid()))).orThrow();
        stopped = sig.equals("STOP") || (stopped && !sig.equals("CONT"));
    }

    void kill() {
        if (qmp != null) {
            qmp.close();
            qmp = null;
        }
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    ProcessCensus.FdKinds fds() {
        return ProcessCensus.fdKinds(pid());
    }

    String describeFds() {
        return ProcessCensus.describeFds(pid());
    }

    /** The process's output (its log). */
    Path log() {
        return out;
    }

    String tail() {
        try {
            String t = Files.exists(out) ? Files.readString(out, StandardCharsets.UTF_8) : "";
            return t.length() > 2000 ? t.substring(t.length() - 2000) : t;
        } catch (IOException e) {
            return e.toString();
        }
    }

    /** quit over QMP, then kill if it does not exit in time. */
    @Override
    public void close() {
        if (stopped && alive()) {
            signal("CONT");
        }
        if (qmp != null && alive()) {
            try {
                qmp.execute("quit", null);
            } catch (Exception | Error gone) {
                // killed below
            }
        }
        if (qmp != null) {
            qmp.close();
            qmp = null;
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
