package dev.livetap.engine.vmm;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpFuzzInput;
import dev.livetap.engine.qmp.QmpJson;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Hostile QMP input over a real AF_UNIX socket against real VM endpoints (VmActor on the
 * in-memory OS, as in {@link QmpVmWiringTest}; the QMP servers on kernel sockets): generated and
 * mutated messages, commands in the wrong state ({@code migrate} twice, {@code migrate-incoming}
 * on a running VM, {@code cont} during a migration), {@code getfd} with real non-TAP fds (pipes)
 * then {@code netdev_add fd=}. After each message a probe (a resynchronisation byte, then
 * {@code query-status}) must be answered within 10 s; after the storm a new client is served,
 * and /proc/self/fd holds what it held before.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpSocketFuzzTest {
    static final int CASES = Integer.getInteger("livetap.qmp.socketfuzz.cases", 2_000);
    static final long SEED = Long.getLong("livetap.qmp.fuzz.seed", 20261125L);
    static final Duration T = Duration.ofSeconds(10);
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(2),
            Duration.ofSeconds(5), Duration.ofSeconds(2));
    static final String TARGET_URI = "unix:/run/livetap/fuzz-incoming.sock";
    static final Set<String> CLASSES = Set.of("GenericError", "CommandNotFound", "DeviceNotFound", "DeviceNotActive");
    static final ObjectMapper JSON = new ObjectMapper();

    Os os;
    InMemoryKernel kernel;
    InMemoryReactorDriver reactors;
    EngineCore srcEngine;
    EngineCore tgtEngine;
    QmpFrontend srcQmp;
    QmpFrontend tgtQmp;
    Path dir;

    @BeforeEach
    void start() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs srcOs = kernel.newProcess("source");
        InMemoryOs tgtOs = kernel.newProcess("target");
        reactors = new InMemoryReactorDriver(srcOs, tgtOs);
        EngineSettings s = EngineSettings.defaults().withTimeouts(TIMEOUTS).withAskTimeout(Duration.ofSeconds(5))
                .withMigrationPeers(new PeerPolicy(Set.of(0)));
        srcEngine = EngineCore.create(s.withOs(srcOs).withSystemName("fuzz-src"));
        tgtEngine = EngineCore.create(s.withOs(tgtOs).withSystemName("fuzz-tgt"));
        EndpointCore src = srcEngine.createVm(VmSpec.of("src"));
        EndpointCore tgt = tgtEngine.createVm(VmSpec.of("tgt").incoming(true));
        dir = Files.createTempDirectory("livetap-qmpfuzz");
        srcQmp = QmpFrontend.start(src, os, dir.resolve("src.qmp"), () -> { }, T);
        tgtQmp = QmpFrontend.start(tgt, os, dir.resolve("tgt.qmp"), () -> { }, T);
        try (QmpClient c = QmpClient.connect(dir.resolve("src.qmp"), T)) {
            c.negotiate();
            c.execute("netdev_add", (com.fasterxml.jackson.databind.node.ObjectNode) QmpJson.parse(
                    "{\"type\": \"tap\", \"id\": \"net0\", \"ifname\": \"tap0\", \"queues\": 2}"));
            c.execute("device_add", (com.fasterxml.jackson.databind.node.ObjectNode) QmpJson.parse(
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"nic0\", \"netdev\": \"net0\", \"mq\": true}"));
            c.execute("migrate-set-parameters", (com.fasterxml.jackson.databind.node.ObjectNode) QmpJson.parse("{\"local\": true}"));
        }
        try (QmpClient c = QmpClient.connect(dir.resolve("tgt.qmp"), T)) {
            c.negotiate();
            c.execute("netdev_add", (com.fasterxml.jackson.databind.node.ObjectNode) QmpJson.parse(
                    "{\"type\": \"tap\", \"id\": \"net0\", \"ifname\": \"tap0\", \"queues\": 2, \"incoming-fds\": true,"
                    + " \"script\": \"no\", \"downscript\": \"no\"}"));
            c.execute("device_add", (com.fasterxml.jackson.databind.node.ObjectNode) QmpJson.parse(
                    "{\"driver\": \"virtio-net-pci\", \"id\": \"nic0\", \"netdev\": \"net0\", \"mq\": true}"));
            c.execute("migrate-set-parameters", (com.fasterxml.jackson.databind.node.ObjectNode) QmpJson.parse("{\"local\": true}"));
        }
    }

    @AfterEach
    void stop() throws Exception {
        srcQmp.close();
        tgtQmp.close();
        srcEngine.close();
        tgtEngine.close();
        reactors.close();
        Files.deleteIfExists(dir);
    }

    /** One raw client on the kernel socket: text and real fds out, CRLF lines in. */
    final class Raw implements AutoCloseable {
        final OwnedFd socket;
        final StringBuilder partial = new StringBuilder();
        final List<String> lines = new ArrayList<>();

        Raw(Path path) {
            socket = os.unix().connect(path);
        }

        void send(String text, List<OwnedFd> fds) throws InterruptedException {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            List<OwnedFd> with = fds;
            long deadline = System.nanoTime() + T.toNanos();
            while (b.hasRemaining()) {
                int n = os.unix().sendmsg(socket, b, with);
                if (n > 0) {
                    with = List.of();
                } else {
                    assertTrue(System.nanoTime() < deadline, "the server keeps reading its socket");
                    Thread.sleep(1);
                }
            }
        }

        /** Lines until one whose id is {@code id}; returns it. Events and other replies are kept in {@link #lines}. */
        JsonNode until(String id) throws IOException, InterruptedException {
            long deadline = System.nanoTime() + T.toNanos();
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            while (true) {
                while (!lines.isEmpty()) {
                    JsonNode m = JSON.readTree(lines.remove(0));
                    checkMessage(m);
                    if (id.equals(m.path("id").asText(null))) {
                        return m;
                    }
                }
                assertTrue(System.nanoTime() < deadline, "no reply with id " + id + " within " + T + " (seed " + SEED
                        + "); partial: " + partial);
                buf.clear();
                List<OwnedFd> none = new ArrayList<>();
                int n = os.unix().recvmsg(socket, buf, none, 0);
                assertTrue(n >= 0, "the server must not disconnect a client for what it sent; waiting for " + id);
                if (n == 0) {
                    Thread.sleep(1);
                    continue;
                }
                partial.append(new String(buf.array(), 0, n, StandardCharsets.US_ASCII));
                int nl;
                while ((nl = partial.indexOf("\r\n")) >= 0) {
                    lines.add(partial.substring(0, nl));
                    partial.delete(0, nl + 2);
                }
            }
        }

        @Override
        public void close() {
            socket.close();
        }
    }

    final Map<String, Integer> tally = new TreeMap<>();

    void checkMessage(JsonNode m) {
        if (m.has("error")) {
            String cls = m.path("error").path("class").asText();
            assertTrue(CLASSES.contains(cls), "a known error class: " + m);
            tally.merge(cls, 1, Integer::sum);
        } else if (m.has("return")) {
            tally.merge("return", 1, Integer::sum);
        } else if (m.has("event")) {
            tally.merge("event", 1, Integer::sum);
        } else {
            assertTrue(m.has("QMP"), "greeting, return, error or event: " + m);
        }
    }

    @Test
    void hostileQmpOverARealSocketLeavesTheVirtualMachineServingAndNoFdBehind() throws Exception {
        System.out.println("SEED=" + SEED + " cases=" + CASES);
        FdCounter kernelFdsAtStart = FdCounter.snapshot();
        Random rnd = new Random(SEED);
        QmpFuzzInput input = new QmpFuzzInput(rnd);
        int pipesPassed = 0;
        long start = System.nanoTime();
        try (Raw src = new Raw(dir.resolve("src.qmp")); Raw tgt = new Raw(dir.resolve("tgt.qmp"))) {
            src.send("{\"execute\": \"qmp_capabilities\", \"id\": \"neg\"}", List.of());
            src.until("neg");
            tgt.send("{\"execute\": \"qmp_capabilities\", \"id\": \"neg\"}", List.of());
            tgt.until("neg");
            // a migration in flight, then the commands that are wrong in that state
            tgt.send("{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"" + TARGET_URI + "\"}, \"id\": \"in\"}", List.of());
            assertTrue(tgt.until("in").has("return"), "the target listens");
            src.send("{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"" + TARGET_URI + "\"}, \"id\": \"wrong-in\"}", List.of());
            assertEquals("'-incoming' was not specified on the command line",
                    src.until("wrong-in").path("error").path("desc").asText(), "migrate-incoming on a running VM is refused");
            tgt.send("{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"" + TARGET_URI + "\"}, \"id\": \"in2\"}", List.of());
            assertEquals("The incoming migration has already been started", tgt.until("in2").path("error").path("desc").asText());
            tgt.send("{\"execute\": \"cont\", \"id\": \"tcont\"}", List.of());
            tgt.until("tcont"); // arms the resume (QEMU's -incoming + cont)
            src.send("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"" + TARGET_URI + "\"}, \"id\": \"m1\"}"
                    + "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"" + TARGET_URI + "\"}, \"id\": \"m2\"}"
                    + "{\"execute\": \"cont\", \"id\": \"c1\"}", List.of());
            assertTrue(src.until("m1").has("return"), "the first migrate starts");
            JsonNode m2 = src.until("m2");
            assertTrue(m2.path("error").path("desc").asText().equals("There's a migration process in progress")
                    || m2.path("error").path("desc").asText().startsWith("cannot migrate in run state"),
                    "a second migrate is refused while (or after) the first runs: " + m2);
            JsonNode c1 = src.until("c1");
            assertTrue(c1.has("error") || c1.has("return"), "cont during or after the migration is answered: " + c1);
            for (int i = 1; i <= CASES; i++) {
                Raw to = rnd.nextInt(4) == 0 ? tgt : src;
                int k = rnd.nextInt(100);
                if (k < 10) {
                    OwnedFd[] pipe = os.fds().pipe();
                    pipesPassed++;
                    String name = "fd" + rnd.nextInt(4);
                    to.send("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"" + name + "\"}}", List.of(pipe[0]));
                    OwnedFd.closeAll(List.of(pipe));
                    to.send("{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\", \"id\": \"p" + i + "\", \""
                            + (rnd.nextBoolean() ? "fd" : "fds") + "\": \"" + name + "\"}}", List.of());
                } else if (k < 20) {
                    to.send(input.stateCommand(), List.of());
                } else if (k < 25) {
                    OwnedFd[] pipe = os.fds().pipe();
                    pipesPassed++;
                    to.send(input.request(), List.of(pipe[0], pipe[1])); // fds on a command that takes none
                    OwnedFd.closeAll(List.of(pipe));
                } else if (k < 50) {
                    to.send(input.mutate(input.request()), List.of());
                } else if (k < 60) {
                    to.send(input.badShape(), List.of());
                } else if (k < 65) {
                    to.send(input.deep(), List.of());
                } else if (k < 70) {
                    to.send(input.noise(1 + rnd.nextInt(30)), List.of());
                } else {
                    to.send(input.request(), List.of());
                }
                to.send("\u001b{\"execute\": \"query-status\", \"id\": \"p" + i + "\"}", List.of());
                JsonNode probe = to.until("p" + i);
                assertTrue(probe.path("return").has("status"), "the probe after case " + i + " is answered: " + probe);
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        try (QmpClient c = QmpClient.connect(dir.resolve("src.qmp"), T)) {
            c.negotiate();
            assertTrue(c.execute("query-status", null).has("status"), "a new client is served after the storm");
        }
        System.out.printf("QMP socket fuzz: %d cases (+%d probes), %d pipe fds passed, replies %s, %d ms%n", CASES,
                CASES, pipesPassed, tally, ms);
        await().atMost(T).untilAsserted(() -> kernelFdsAtStart.assertNoNewKernelFds(
                "every fd the fuzz passed (pipes with getfd and with other commands) is closed"));
    }
}
