package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpErrorClass;
import dev.livetap.engine.qmp.QmpException;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.engine.testing.RawQmp;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * QMP wiring: VM endpoints on the in-memory OS (two in-memory processes, one ActorSystem each)
 * behind real QMP servers on kernel path sockets. Every command goes through QMP, every reply
 * and error is QMP's, every VM event becomes a QMP event.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpVmWiringTest {
    static final Duration T = Duration.ofSeconds(10);
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(5));
    static final String URI = "unix:/run/livetap/wiring.sock";

    InMemoryKernel kernel;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    InMemoryReactorDriver reactors;
    EngineCore srcEngine;
    EngineCore tgtEngine;
    EndpointCore src;
    EndpointCore tgt;
    QmpFrontend srcQmp;
    QmpFrontend tgtQmp;
    Path dir;
    int ownedAtStart;

    @BeforeEach
    void start() throws Exception {
        JnaOs.instance().reactor();
        ownedAtStart = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        reactors = new InMemoryReactorDriver(srcOs, tgtOs);
        EngineSettings s = EngineSettings.defaults().withTimeouts(TIMEOUTS).withMigrationPeers(new PeerPolicy(Set.of(0)));
        srcEngine = EngineCore.create(s.withOs(srcOs).withSystemName("wiring-src"));
        tgtEngine = EngineCore.create(s.withOs(tgtOs).withSystemName("wiring-tgt"));
        src = srcEngine.createVm(VmSpec.of("src"));
        tgt = tgtEngine.createVm(VmSpec.of("tgt").incoming(true));
        dir = Files.createTempDirectory("livetap-wiring");
        srcQmp = QmpFrontend.start(src, JnaOs.instance(), dir.resolve("src.qmp"), () -> { }, T);
        tgtQmp = QmpFrontend.start(tgt, JnaOs.instance(), dir.resolve("tgt.qmp"), () -> { }, T);
    }

    @AfterEach
    void stop() throws Exception {
        srcQmp.close();
        tgtQmp.close();
        srcEngine.close();
        tgtEngine.close();
        reactors.close();
        Files.deleteIfExists(dir);
        assertEquals(ownedAtStart, OwnedFd.openCount(),
                "closing the engines closes every fd their VMs held (TAP queues, sockets) and the QMP servers'");
    }

    private QmpClient client(Path qmp) throws Exception {
        QmpClient c = QmpClient.connect(qmp, T);
        c.negotiate();
        ObjectNode events = args();
        events.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        c.execute("migrate-set-capabilities", events); // MIGRATION events need it, as from QEMU
        return c;
    }

    private static ObjectNode args() {
        return JsonNodeFactory.instance.objectNode();
    }

    private static QmpException error(QmpClient c, String command, ObjectNode args) {
        return assertThrows(QmpException.class, () -> c.execute(command, args), command + " " + args + " must fail");
    }

    @Test
    void greetingNegotiationIdEchoAndEachErrorClassOverTheSocket() throws Exception {
        try (RawQmp raw = new RawQmp(dir.resolve("src.qmp"), T)) {
            JsonNode greeting = raw.next();
            assertTrue(greeting.path("QMP").path("version").path("qemu").has("major"), "the greeting comes first: " + greeting);
            raw.send("{\"execute\": \"query-status\", \"id\": 1}\n");
            JsonNode early = raw.nextReply();
            assertEquals("CommandNotFound", early.path("error").path("class").asText(), "commands before negotiation: " + early);
            assertEquals(1, early.path("id").asInt(), "the id is echoed even on errors");
            raw.send("{\"execute\": \"qmp_capabilities\", \"id\": \"neg\"}\n");
            JsonNode neg = raw.nextReply();
            assertTrue(neg.path("return").isObject() && neg.path("id").asText().equals("neg"), "negotiation returns {}: " + neg);
            raw.send("{\"execute\": \"query-status\", \"id\": {\"any\": [\"json\", 1]}}\n");
            JsonNode status = raw.nextReply();
            assertEquals("running", status.path("return").path("status").asText(), "a non-incoming VM runs: " + status);
            assertEquals("{\"any\":[\"json\",1]}", status.path("id").toString(), "any JSON id is echoed verbatim");
            raw.send("{\"execute\": \"no-such-command\", \"id\": 2}\n");
            JsonNode unknown = raw.nextReply();
            assertEquals("CommandNotFound", unknown.path("error").path("class").asText(), unknown.toString());
            assertEquals("The command no-such-command has not been found", unknown.path("error").path("desc").asText());
            raw.send("{\"execute\": \"query-status\", \"id\": 3,,}\n");
            JsonNode malformed = raw.nextReply();
            assertEquals("GenericError", malformed.path("error").path("class").asText(), malformed.toString());
            assertTrue(malformed.path("error").path("desc").asText().startsWith("JSON parse error"), malformed.toString());
            raw.send("{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"nope\"}, \"id\": 4}\n");
            JsonNode notFound = raw.nextReply();
            assertEquals("DeviceNotFound", notFound.path("error").path("class").asText(), notFound.toString());
            assertEquals("Device 'nope' not found", notFound.path("error").path("desc").asText());
            raw.send("{\"execute\": \"query-status\", \"id\": 5}\n");
            assertEquals(5, raw.nextReply().path("id").asInt(), "the session still works after errors");
        }
        try (QmpClient c = client(dir.resolve("tgt.qmp"))) {
            QmpException mixed = error(c, "netdev_add", args().put("type", "tap").put("id", "n").put("incoming-fds", true)
                    .put("script", "/etc/up").put("downscript", "no"));
            assertEquals(QmpErrorClass.GenericError, mixed.errorClass());
            assertTrue(mixed.desc().startsWith("incoming-fds requires script=no and downscript=no (got script=/etc/up,"
                    + " downscript=no)"), "the review's rule for incoming-fds with a script: " + mixed.desc());
            QmpException type = error(c, "netdev_add", args().put("type", "tap").put("id", "n").put("queues", "four"));
            assertEquals(QmpErrorClass.GenericError, type.errorClass(), "a wrongly typed argument: " + type.desc());
            QmpException notIncoming = error(c, "migrate", args().put("uri", "tcp:127.0.0.1:4444"));
            assertEquals(QmpErrorClass.GenericError, notIncoming.errorClass(), notIncoming.desc());
        }
        try (QmpClient c = client(dir.resolve("src.qmp"))) {
            c.execute("migrate-set-parameters", args().put("local", true));
            QmpException tcp = error(c, "migrate", args().put("uri", "tcp:127.0.0.1:4444"));
            assertTrue(tcp.desc().toLowerCase().contains("unix"), "local=on needs a UNIX socket: " + tcp.desc());
            assertEquals("none", c.execute("query-migrate", null).path("status").asText("none"),
                    "a refused migrate changes nothing");
            QmpException incoming = error(c, "migrate-incoming", args().put("uri", URI));
            assertEquals("'-incoming' was not specified on the command line", incoming.desc());
            assertEquals(true, c.execute("query-migrate-parameters", null).path("local").asBoolean(),
                    "query-migrate-parameters shows local: " + c.execute("query-migrate-parameters", null));
        }
    }

    @Test
    void migrationThroughQmpEmitsQemusEventSequenceAndQueryMigrateHasTheMonotonicStamps() throws Exception {
        try (QmpClient s = client(dir.resolve("src.qmp")); QmpClient t = client(dir.resolve("tgt.qmp"))) {
            s.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "tap0").put("queues", 4));
            s.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mq", true).put("mac", "52:54:00:12:34:56"));
            t.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "tap0").put("queues", 4)
                    .put("incoming-fds", true).put("script", "no").put("downscript", "no"));
            t.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                    .put("mq", true).put("mac", "52:54:00:12:34:56"));
            t.execute("migrate-set-parameters", args().put("local", true));
            s.execute("migrate-set-parameters", args().put("local", true));
            t.execute("migrate-incoming", args().put("uri", URI));
            UnixMigrationTransport tt = (UnixMigrationTransport) tgtEngine.transport();
            long deadline = System.nanoTime() + T.toNanos();
            while (tt.pendingAccepts() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            s.execute("migrate", args().put("uri", URI));
            List<String> srcSeq = migrationEvents(s);
            List<String> tgtSeq = migrationEvents(t);
            assertEquals(List.of("setup", "active", "device", "completed"), srcSeq,
                    "the source's MIGRATION events follow QEMU's order");
            assertEquals(List.of("setup", "active", "completed"), tgtSeq, "the target's MIGRATION events");
            t.awaitEvent("RESUME");
            JsonNode si = s.execute("query-migrate", null);
            JsonNode ti = t.execute("query-migrate", null);
            assertEquals("completed", si.path("status").asText(), si.toString());
            assertTrue(si.path("x-source-stopped-ns").asLong() > 0 && ti.path("x-target-started-ns").asLong() > 0,
                    "query-migrate exposes the CLOCK_MONOTONIC stamps a tool measures downtime with: " + si + " " + ti);
            assertEquals("postmigrate", s.execute("query-status", null).path("status").asText());
            assertEquals("running", t.execute("query-status", null).path("status").asText(),
                    "a target not started paused resumes by itself");
            QmpException cont = error(s, "cont", null);
            assertTrue(cont.desc().contains("postmigrate"), "a migrated-away source refuses cont: " + cont.desc());
        }
    }

    /** Source and target with one 4-queue NIC each, {@code local} on both; the target listens. */
    private void twoVmsReadyToMigrate(QmpClient s, QmpClient t) throws Exception {
        s.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "tap0").put("queues", 4));
        s.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                .put("mq", true).put("mac", "52:54:00:12:34:56"));
        t.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "tap0").put("queues", 4)
                .put("incoming-fds", true).put("script", "no").put("downscript", "no"));
        t.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                .put("mq", true).put("mac", "52:54:00:12:34:56"));
        t.execute("migrate-set-parameters", args().put("local", true));
        s.execute("migrate-set-parameters", args().put("local", true));
        t.execute("migrate-incoming", args().put("uri", URI));
        UnixMigrationTransport tt = (UnixMigrationTransport) tgtEngine.transport();
        long deadline = System.nanoTime() + T.toNanos();
        while (tt.pendingAccepts() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
    }

    private static void pauseBeforeSwitchover(QmpClient c) throws Exception {
        ObjectNode cap = args().put("capability", "pause-before-switchover").put("state", true);
        ObjectNode a = args();
        a.putArray("capabilities").add(cap);
        c.execute("migrate-set-capabilities", a);
    }

    private static String awaitMigrationStatus(QmpClient c, String wanted) throws Exception {
        String seen;
        do {
            seen = c.awaitEvent("MIGRATION").path("data").path("status").asText();
        } while (!seen.equals(wanted) && !Set.of("completed", "failed", "cancelled").contains(seen));
        return seen;
    }

    @Test
    void pauseBeforeSwitchoverHoldsTheSourceInPreSwitchoverUntilMigrateContinue() throws Exception {
        try (QmpClient s = client(dir.resolve("src.qmp")); QmpClient t = client(dir.resolve("tgt.qmp"))) {
            twoVmsReadyToMigrate(s, t);
            QmpException wrongTarget = error(t, "migrate-continue", args().put("state", "pre-switchover"));
            assertEquals("Migration not in expected state: none", wrongTarget.desc(),
                    "a target has no outgoing migration (QEMU compares with migrate_get_current())");
            assertEquals("Migration not in expected state: none",
                    error(s, "migrate-continue", args().put("state", "pre-switchover")).desc(), "no migration yet");
            pauseBeforeSwitchover(s);
            boolean listed = false;
            for (JsonNode c : s.execute("query-migrate-capabilities", null)) {
                listed |= c.path("capability").asText().equals("pause-before-switchover") && c.path("state").asBoolean();
            }
            assertTrue(listed, "query-migrate-capabilities reports the capability on");
            s.execute("migrate", args().put("uri", URI));
            List<String> srcSeq = new ArrayList<>();
            while (srcSeq.isEmpty() || !srcSeq.get(srcSeq.size() - 1).equals("pre-switchover")) {
                srcSeq.add(s.awaitEvent("MIGRATION").path("data").path("status").asText());
                assertFalse(Set.of("device", "completed", "failed", "cancelled").contains(srcSeq.get(srcSeq.size() - 1)),
                        "the source must stop in pre-switchover: " + srcSeq);
            }
            s.awaitEvent("STOP");
            Thread.sleep(300); // a hold: nothing may move on by itself
            assertEquals("pre-switchover", s.execute("query-migrate", null).path("status").asText(),
                    "query-migrate reports the hold");
            assertEquals("finish-migrate", s.execute("query-status", null).path("status").asText());
            assertEquals("active", t.execute("query-migrate", null).path("status").asText(),
                    "the target has received no device state during the hold");
            assertEquals("Migration not in expected state: pre-switchover",
                    error(s, "migrate-continue", args().put("state", "active")).desc(), "QEMU's text for a wrong state");
            QmpException missing = error(s, "migrate-continue", args());
            assertEquals(QmpErrorClass.GenericError, missing.errorClass());
            assertEquals("Parameter 'state' is missing", missing.desc());
            assertEquals("Parameter 'state' does not accept value 'paused'",
                    error(s, "migrate-continue", args().put("state", "paused")).desc(), "state is a MigrationStatus");
            assertEquals("Migration not in expected state: none",
                    error(t, "migrate-continue", args().put("state", "active")).desc(),
                    "the target compares with its outgoing status (none), not its incoming one (active)");
            assertTrue(s.execute("migrate-continue", args().put("state", "pre-switchover")).isObject(), "continue answers {}");
            while (!Set.of("completed", "failed", "cancelled").contains(srcSeq.get(srcSeq.size() - 1))) {
                srcSeq.add(s.awaitEvent("MIGRATION").path("data").path("status").asText());
            }
            assertEquals(List.of("setup", "active", "pre-switchover", "device", "completed"), srcSeq,
                    "the source's MIGRATION events with pause-before-switchover");
            assertEquals("completed", awaitMigrationStatus(t, "completed"));
            t.awaitEvent("RESUME");
            assertEquals("postmigrate", s.execute("query-status", null).path("status").asText());
            assertEquals("Migration not in expected state: completed",
                    error(s, "migrate-continue", args().put("state", "pre-switchover")).desc(), "after the end");
        }
    }

    @Test
    void migrateCancelDuringPreSwitchoverRollsBackAndTheTargetFails() throws Exception {
        try (QmpClient s = client(dir.resolve("src.qmp")); QmpClient t = client(dir.resolve("tgt.qmp"))) {
            twoVmsReadyToMigrate(s, t);
            pauseBeforeSwitchover(s);
            s.execute("migrate", args().put("uri", URI));
            assertEquals("pre-switchover", awaitMigrationStatus(s, "pre-switchover"));
            s.execute("migrate_cancel", null);
            assertEquals("cancelling", s.awaitEvent("MIGRATION").path("data").path("status").asText());
            assertEquals("cancelled", s.awaitEvent("MIGRATION").path("data").path("status").asText());
            assertEquals("failed", awaitMigrationStatus(t, "failed"), "the target hears the cancel and fails");
            assertEquals("RESUME", s.awaitEvent("RESUME").path("event").asText(),
                    "the source rolls back as after any cancel and, running when it stopped, resumes by itself (QEMU)");
            assertEquals("running", s.execute("query-status", null).path("status").asText());
            assertTrue(s.execute("cont", null).isObject(), "cont on a running VM answers {} and changes nothing");
        }
    }

    @Test
    void quitRepliesThenShutdownEventAndTheSocketGoes() throws Exception {
        List<String> quits = new ArrayList<>();
        Path p = dir.resolve("q.qmp");
        EndpointCore vm = srcEngine.createVm(VmSpec.of("q"));
        QmpFrontend[] f = new QmpFrontend[1];
        f[0] = QmpFrontend.start(vm, JnaOs.instance(), p, () -> {
            quits.add("quit");
            f[0].shutdownEvent("host-qmp-quit");
            f[0].close();
            vm.shutdown();
        }, T);
        try (QmpClient c = client(p)) {
            assertTrue(c.execute("quit", null).isObject(), "quit answers {} first");
            JsonNode shutdown = c.awaitEvent("SHUTDOWN");
            assertEquals("host-qmp-quit", shutdown.path("data").path("reason").asText(), shutdown.toString());
        }
        assertEquals(List.of("quit"), quits);
        long deadline = System.nanoTime() + T.toNanos();
        while (Files.exists(p) && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        assertFalse(Files.exists(p), "the QMP socket is removed after quit");
    }

    @Test
    void greetingOffersOobAndExecOobIsAnsweredAsQemu() throws Exception {
        try (RawQmp raw = new RawQmp(dir.resolve("src.qmp"), T)) {
            JsonNode greeting = raw.next();
            assertEquals("[\"oob\"]", greeting.path("QMP").path("capabilities").toString(), "QEMU offers oob: " + greeting);
            raw.send("{\"exec-oob\": \"query-status\", \"id\": 1}\n");
            assertEquals("QMP input member 'exec-oob' is unexpected", raw.nextReply().path("error").path("desc").asText(),
                    "exec-oob before oob is enabled");
            raw.send("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}, \"id\": 2}\n");
            JsonNode neg = raw.nextReply();
            assertTrue(neg.path("return").isObject() && neg.path("return").isEmpty(), "enable oob as QEMU 7.2 does: " + neg);
            raw.send("{\"exec-oob\": \"query-status\", \"id\": 3}\n");
            JsonNode oob = raw.nextReply();
            assertEquals("The command query-status does not support OOB", oob.path("error").path("desc").asText(), oob.toString());
            assertEquals(3, oob.path("id").asInt(), oob.toString());
            raw.send("{\"exec-oob\": \"no-such\", \"id\": 4}\n");
            assertEquals("CommandNotFound", raw.nextReply().path("error").path("class").asText());
            raw.send("{\"execute\": \"query-status\", \"exec-oob\": \"stop\"}\n");
            assertEquals("QMP input member 'execute' clashes with 'exec-oob'", raw.nextReply().path("error").path("desc").asText());
            raw.send("{\"execute\": \"query-status\", \"id\": 5}\n");
            assertEquals("running", raw.nextReply().path("return").path("status").asText(), "in-band commands still run");
        }
    }

    @Test
    void queryNameAndAWellFormedSchemaOfWhatExists() throws Exception {
        try (QmpClient c = client(dir.resolve("src.qmp"))) {
            assertEquals("{\"name\":\"src\"}", c.execute("query-name", null).toString(), "as QEMU with -name src");
            JsonNode schema = c.execute("query-qmp-schema", null);
            java.util.Map<String, JsonNode> byName = new java.util.HashMap<>();
            for (JsonNode e : schema) {
                assertTrue(byName.put(e.path("name").asText(), e) == null, "each name is defined once: " + e);
            }
            for (JsonNode cmd : c.execute("query-commands", null)) {
                JsonNode e = byName.get(cmd.path("name").asText());
                assertTrue(e != null && e.path("meta-type").asText().equals("command"), "every command is in the schema: " + cmd);
            }
            assertEquals("event", byName.get("MIGRATION").path("meta-type").asText());
            for (JsonNode e : schema) {
                for (String ref : List.of("arg-type", "ret-type", "element-type")) {
                    if (e.has(ref)) {
                        assertTrue(byName.containsKey(e.path(ref).asText()), e.path("name") + "'s " + ref + " is defined");
                    }
                }
                for (JsonNode m : e.path("members")) {
                    if (m.has("type")) {
                        assertTrue(byName.containsKey(m.path("type").asText()), "member " + m + " of " + e.path("name"));
                    }
                }
            }
            JsonNode caps = byName.get(byName.get("migrate-set-capabilities").path("arg-type").asText()).path("members").get(0);
            assertEquals("capabilities", caps.path("name").asText());
            JsonNode array = byName.get(caps.path("type").asText());
            assertEquals("array", array.path("meta-type").asText());
            JsonNode capability = byName.get(array.path("element-type").asText()).path("members").get(0);
            assertTrue(byName.get(capability.path("type").asText()).path("values").toString().contains("\"events\""),
                    "the capability enum lists events");
        }
    }

    @Test
    void migrationEventsOnlyWithTheEventsCapabilityAndStopResumeWithoutData() throws Exception {
        try (QmpClient c = QmpClient.connect(dir.resolve("src.qmp"), T)) {
            c.negotiate();
            c.execute("migrate", args().put("uri", "unix:/run/livetap/nobody.sock"));
            long deadline = System.nanoTime() + T.toNanos();
            while (!c.execute("query-migrate", null).path("status").asText().equals("failed") && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals("failed", c.execute("query-migrate", null).path("status").asText());
            c.execute("stop", null);
            JsonNode stop = c.awaitEvent("STOP");
            assertFalse(stop.has("data"), "QEMU's STOP carries no data: " + stop);
            c.execute("cont", null);
            JsonNode resume = c.awaitEvent("RESUME");
            assertFalse(resume.has("data"), "QEMU's RESUME carries no data: " + resume);
            List<String> names = new ArrayList<>();
            c.drainEvents().forEach(e -> names.add(e.path("event").asText()));
            assertFalse(names.contains("MIGRATION"), "no MIGRATION event with the events capability off: " + names);

            ObjectNode on = args();
            on.putArray("capabilities").addObject().put("capability", "events").put("state", true);
            c.execute("migrate-set-capabilities", on);
            c.execute("migrate", args().put("uri", "unix:/run/livetap/nobody.sock"));
            assertEquals(List.of("setup", "failed"), migrationEvents(c), "with events on, QEMU's statuses");
        }
    }

    @Test
    void duplicateNetdevIdHasQemusText() throws Exception {
        try (QmpClient c = client(dir.resolve("src.qmp"))) {
            c.execute("netdev_add", args().put("type", "tap").put("id", "hostnet0").put("ifname", "tap0"));
            QmpException dup = error(c, "netdev_add", args().put("type", "tap").put("id", "hostnet0").put("ifname", "tap1"));
            assertEquals("Duplicate ID 'hostnet0'", dup.desc());
            c.execute("netdev_del", args().put("id", "hostnet0"));
        }
    }

    private static List<String> migrationEvents(QmpClient c) throws Exception {
        List<String> seen = new ArrayList<>();
        while (seen.isEmpty() || !Set.of("completed", "failed", "cancelled").contains(seen.get(seen.size() - 1))) {
            seen.add(c.awaitEvent("MIGRATION").path("data").path("status").asText());
        }
        return seen;
    }
}
