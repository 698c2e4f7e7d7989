package dev.livetap.engine.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.vmm.VmmMain;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.nativeio.testing.ChildJvm;
import dev.livetap.nativeio.testing.PrivateNetns;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A {@code livetap vmm} child JVM started inside a namespace (design decision 6), with its QMP
 * socket and helpers for the end-to-end tests. {@link #close()} quits it over QMP and kills it if
 * it does not exit in time.
 */
public final class VmmProcess implements AutoCloseable {
    public static final Duration READY = Duration.ofSeconds(60);
    public static final Duration QMP = Duration.ofSeconds(15);

    public final String name;
    public final Path qmp;
    private final ChildJvm jvm;
    private QmpClient client;

    private VmmProcess(String name, Path qmp, ChildJvm jvm) {
        this.name = name;
        this.qmp = qmp;
        this.jvm = jvm;
    }

    /** Starts {@code livetap vmm --qmp DIR/NAME.qmp --name NAME extra...} inside {@code ns}; does not wait. */
    public static VmmProcess start(PrivateNetns ns, Path dir, String name, String... extra) {
        Path qmp = dir.resolve(name + ".qmp");
        List<String> args = new ArrayList<>(List.of("vmm", "--qmp", qmp.toString(), "--name", name));
        args.addAll(Arrays.asList(extra));
        ChildJvm jvm = ChildJvm.builder(VmmMain.class).inNetns(ns).args(args.toArray(String[]::new)).start();
        return new VmmProcess(name, qmp, jvm);
    }

    /** Waits for {@code READY <qmp>} on stdout, then connects and negotiates. */
    public VmmProcess awaitReady() throws Exception {
        assertTrue(jvm.awaitOutput("READY " + qmp, READY), name + " prints READY <qmp-path> once listening: " + jvm.describe());
        client = QmpClient.connect(qmp, QMP);
        client.negotiate();
        return this;
    }

    public QmpClient qmp() {
        return client;
    }

    public JsonNode execute(String command, ObjectNode args) throws Exception {
        return client.execute(command, args);
    }

    public JsonNode execute(String command) throws Exception {
        return client.execute(command, null);
    }

    public static ObjectNode args() {
        return JsonNodeFactory.instance.objectNode();
    }

    /** A 4-queue (or n-queue) TAP netdev {@code net0} on {@code ifname} and a virtio-net NIC on it. */
    public void addNic(String ifname, int queues, boolean incomingFds) throws Exception {
        ObjectNode netdev = args().put("type", "tap").put("id", "net0").put("ifname", ifname).put("queues", queues);
        if (incomingFds) {
            netdev.put("incoming-fds", true);
        }
        execute("netdev_add", netdev);
        execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                .put("mq", true).put("mac", "52:54:00:12:34:56"));
    }

    public String runState() throws Exception {
        return execute("query-status").path("status").asText();
    }

    public long pid() {
        return jvm.pid();
    }

    public boolean isAlive() {
        return jvm.isAlive();
    }

    public String describe() {
        return jvm.describe();
    }

    public String stderr() {
        return jvm.stderr();
    }

    /** The process's open descriptors, without the jars and libraries the JVM maps while loading classes. */
    public List<String> openFds() throws IOException {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid()), "fd"))) {
            for (Path e : d) {
                String target;
                try {
                    target = Files.readSymbolicLink(e).toString();
                } catch (IOException gone) {
                    continue;
                }
                if (!(target.endsWith(".jar") || target.endsWith(".so") || target.endsWith(".jsa") || target.contains("/jna"))) {
                    out.add(target);
                }
            }
        }
        out.sort(null);
        return out;
    }

    /** Sends a signal with kill(1) (SIGSTOP and SIGKILL have no JDK API). */
    public void signal(String sig) throws Exception {
        Process p = new ProcessBuilder("kill", "-" + sig, String.valueOf(pid())).redirectErrorStream(true).start();
        assertTrue(p.waitFor(5, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0, "kill -" + sig + " " + pid());
    }

    /** Waits (bounded) for the exit and returns the code. */
    public int waitFor(Duration d) {
        return jvm.waitFor(d);
    }

    @Override
    public void close() {
        try {
            if (client != null && jvm.isAlive()) {
                try {
                    client.execute("quit", null);
                } catch (Exception | AssertionError ignored) {
                    // already gone or frozen: killed below
                }
                client.close();
            }
            if (jvm.isAlive()) {
                try {
                    jvm.waitFor(Duration.ofSeconds(10));
                } catch (IllegalStateException stuck) {
                    // ChildJvm.close kills it
                }
            }
        } finally {
            jvm.close();
        }
    }
}
