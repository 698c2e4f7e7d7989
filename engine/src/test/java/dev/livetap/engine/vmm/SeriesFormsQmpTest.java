package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.migration.MigrationTimeouts;
import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.internal.EngineCore;
import dev.livetap.engine.internal.EngineSettings;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpException;
import dev.livetap.engine.transport.UnixMigrationTransport;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The live-TAP series' two forms through QMP (docs/options.md, "Two forms of the series"): the seed's
 * v10 switches and v17's {@code local-migration-supported}, and the review's script rule for
 * {@code incoming-fds}. Two VM endpoints on the in-memory OS behind real QMP servers, as
 * {@link QmpVmWiringTest}; each test picks the source's machine type.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SeriesFormsQmpTest {
    static final Duration T = Duration.ofSeconds(10);
    static final MigrationTimeouts TIMEOUTS = new MigrationTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(5));
    static final String URI = "unix:/run/livetap/forms.sock";
    static final String MAC = "52:54:00:12:34:56";

    InMemoryKernel kernel;
    InMemoryReactorDriver reactors;
    EngineCore srcEngine;
    EngineCore tgtEngine;
    final List<QmpFrontend> frontends = new ArrayList<>();
    Path dir;
    int ownedAtStart;

    @BeforeEach
    void start() throws Exception {
        JnaOs.instance().reactor();
        ownedAtStart = OwnedFd.openCount();
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        InMemoryOs srcOs = kernel.newProcess("source");
        InMemoryOs tgtOs = kernel.newProcess("target");
        reactors = new InMemoryReactorDriver(srcOs, tgtOs);
        EngineSettings s = EngineSettings.defaults().withTimeouts(TIMEOUTS).withMigrationPeers(new PeerPolicy(Set.of(0)));
        srcEngine = EngineCore.create(s.withOs(srcOs).withSystemName("forms-src"));
        tgtEngine = EngineCore.create(s.withOs(tgtOs).withSystemName("forms-tgt"));
        dir = Files.createTempDirectory("livetap-forms");
    }

    @AfterEach
    void stop() throws Exception {
        for (QmpFrontend f : frontends) {
            f.close();
        }
        srcEngine.close();
        tgtEngine.close();
        reactors.close();
        Files.deleteIfExists(dir);
        assertEquals(ownedAtStart, OwnedFd.openCount(), "closing the engines closes every fd their VMs held");
    }

    /** A negotiated client of a new VM endpoint, MIGRATION events on. */
    private QmpClient vm(EngineCore engine, VmSpec spec) throws Exception {
        EndpointCore vm = engine.createVm(spec);
        Path socket = dir.resolve(spec.name() + ".qmp");
        frontends.add(QmpFrontend.start(vm, JnaOs.instance(), socket, () -> { }, T));
        QmpClient c = QmpClient.connect(socket, T);
        c.negotiate();
        ObjectNode events = args();
        events.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        c.execute("migrate-set-capabilities", events);
        return c;
    }

    private QmpClient source(String machine) throws Exception {
        return vm(srcEngine, VmSpec.of("src").machine(machine));
    }

    private QmpClient target() throws Exception {
        return vm(tgtEngine, VmSpec.of("tgt").incoming(true));
    }

    private static ObjectNode args() {
        return JsonNodeFactory.instance.objectNode();
    }

    private static ObjectNode local(boolean on) {
        return args().put("local", on);
    }

    private static String error(QmpClient c, String command, ObjectNode args) {
        return assertThrows(QmpException.class, () -> c.execute(command, args), command + " " + args + " must fail").desc();
    }

    /** A source netdev on its own TAP {@code tap0}, 4 queues. */
    private static ObjectNode sourceNetdev() {
        return args().put("type", "tap").put("id", "net0").put("ifname", "tap0").put("queues", 4);
    }

    /** The target's netdev as the series' v17 asks for it. */
    private static ObjectNode v17TargetNetdev() {
        return args().put("type", "tap").put("id", "net0").put("queues", 4).put("incoming-fds", true)
                .put("script", "no").put("downscript", "no").put("local-migration-supported", true);
    }

    private static ObjectNode nic() {
        return args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0").put("mq", true)
                .put("mac", MAC);
    }

    /** migrate-incoming on {@code t}, then migrate on {@code s}; the final status of each, source first. */
    private List<String> migrate(QmpClient s, QmpClient t) throws Exception {
        t.execute("migrate-incoming", args().put("uri", URI));
        UnixMigrationTransport tt = (UnixMigrationTransport) tgtEngine.transport();
        long deadline = System.nanoTime() + T.toNanos();
        while (tt.pendingAccepts() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        s.execute("migrate", args().put("uri", URI));
        return List.of(finalStatus(s), finalStatus(t));
    }

    private static String finalStatus(QmpClient c) throws Exception {
        String seen;
        do {
            seen = c.awaitEvent("MIGRATION").path("data").path("status").asText();
        } while (!Set.of("completed", "failed", "cancelled").contains(seen));
        return seen;
    }

    private static String errorDesc(QmpClient c) throws Exception {
        return c.execute("query-migrate", null).path("error-desc").asText();
    }

    // --- v17: the backend travels iff 'local' and local-migration-supported, on both sides ---

    @Test
    void v17BackendTravelsWithLocalAndLocalMigrationSupportedEvenWhereTheDevicesCompatDefaultIsOff() throws Exception {
        // pc-q35-10.2 turns virtio-net's backend-transfer off by default (v10); v17 has no device switch
        try (QmpClient s = source("pc-q35-10.2"); QmpClient t = target()) {
            s.execute("netdev_add", sourceNetdev().put("local-migration-supported", true));
            s.execute("device_add", nic());
            s.execute("migrate-set-parameters", local(true));
            t.execute("migrate-set-parameters", local(true)); // v17: before the target's netdev
            t.execute("netdev_add", v17TargetNetdev());
            t.execute("device_add", nic());
            assertEquals(List.of("completed", "completed"), migrate(s, t),
                    "the waiting target loaded the source's TAP: " + errorDesc(s) + " / " + errorDesc(t));
            assertEquals("running", t.execute("query-status", null).path("status").asText());
        }
    }

    @Test
    void v17SourceWithLocalMigrationSupportedOffKeepsItsBackend() throws Exception {
        try (QmpClient s = source("q35"); QmpClient t = target()) {
            s.execute("netdev_add", sourceNetdev().put("local-migration-supported", false));
            s.execute("device_add", nic());
            s.execute("migrate-set-parameters", local(true));
            t.execute("migrate-set-parameters", local(true));
            t.execute("netdev_add", v17TargetNetdev());
            t.execute("device_add", nic());
            assertEquals(List.of("failed", "failed"), migrate(s, t));
            assertTrue(errorDesc(t).contains("the stream carries no backend state"), errorDesc(t));
            // QEMU's order: 'failed' is announced first, the source resumes after it
            assertEquals("running", runStateWithin(s, "running", Duration.ofSeconds(10)),
                    "the source keeps its TAP and resumes");
        }
    }

    @Test
    void v17SourceWithLocalOffKeepsItsBackend() throws Exception {
        try (QmpClient s = source("q35"); QmpClient t = target()) {
            s.execute("netdev_add", sourceNetdev().put("local-migration-supported", true));
            s.execute("device_add", nic());
            t.execute("migrate-set-parameters", local(true));
            t.execute("netdev_add", v17TargetNetdev());
            t.execute("device_add", nic());
            assertEquals(List.of("failed", "failed"), migrate(s, t));
            assertTrue(errorDesc(t).contains("the stream carries no backend state"), errorDesc(t));
        }
    }

    @Test
    void anExplicitBackendTransferOffOnTheDeviceStillCountsInTheV17Form() throws Exception {
        try (QmpClient s = source("q35"); QmpClient t = target()) {
            s.execute("netdev_add", sourceNetdev().put("local-migration-supported", true));
            s.execute("device_add", nic().put("backend-transfer", false));
            s.execute("migrate-set-parameters", local(true));
            t.execute("migrate-set-parameters", local(true));
            t.execute("netdev_add", v17TargetNetdev());
            t.execute("device_add", nic());
            assertEquals(List.of("failed", "failed"), migrate(s, t), "a switch the control plane set is never ignored");
        }
    }

    /** A v17 TAP netdev created while 'local' is off initializes as usual and accepts no incoming state. */
    @Test
    void v17TargetNetdevCreatedWhileLocalIsOffAcceptsNoIncomingState() throws Exception {
        try (QmpClient s = source("q35"); QmpClient t = target()) {
            assertEquals("incoming-fds=on with local-migration-supported=on needs migration parameter 'local' on before"
                    + " the netdev is created (a TAP netdev created while 'local' is off initializes as usual and accepts"
                    + " no incoming state): run migrate-set-parameters {\"local\": true}, then netdev_add",
                    error(t, "netdev_add", v17TargetNetdev()));
            // as usual: a netdev that opens its own TAP, and setting 'local' afterwards changes nothing
            t.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "tap9").put("queues", 4)
                    .put("local-migration-supported", true));
            t.execute("device_add", nic());
            t.execute("migrate-set-parameters", local(true));
            s.execute("netdev_add", sourceNetdev().put("local-migration-supported", true));
            s.execute("device_add", nic());
            s.execute("migrate-set-parameters", local(true));
            assertEquals(List.of("failed", "failed"), migrate(s, t));
            assertTrue(errorDesc(t).contains("the stream carries the backend (virtio-net-nic) but this NIC's peers do not"
                    + " wait for incoming state (incoming-fds=off)"), errorDesc(t));
            // QEMU's order: 'failed' is announced first, the source resumes after it
            assertEquals("running", runStateWithin(s, "running", Duration.ofSeconds(10)),
                    "the source keeps its TAP and resumes");
        }
    }

    @Test
    void v17IncomingFdsOnlyDuringAnIncomingMigration() throws Exception {
        try (QmpClient s = source("q35")) {
            s.execute("migrate-set-parameters", local(true));
            assertEquals("incoming-fds=on is valid only during an incoming migration (run state inmigrate: start the VMM"
                    + " with -incoming); this VM is running", error(s, "netdev_add", v17TargetNetdev()));
            s.execute("netdev_add", sourceNetdev()); // the refusal added nothing: the id is free
        }
    }

    /** The series' v16 rule, kept in v17: no ifname= or vnet_hdr= with incoming-fds. */
    @Test
    void v17RefusesIfnameAndVnetHdrWithIncomingFds() throws Exception {
        try (QmpClient t = target()) {
            t.execute("migrate-set-parameters", local(true));
            for (ObjectNode extra : List.of(args().put("ifname", "tap0"), args().put("vnet_hdr", true))) {
                assertTrue(error(t, "netdev_add", v17TargetNetdev().setAll(extra)).startsWith(
                        "incoming-fds is incompatible with ifname= and vnet_hdr= in the v17 form"), extra.toString());
            }
            // the v10 form takes them as expectations about the TAP that arrives
            t.execute("netdev_add", v17TargetNetdev().put("ifname", "tap0").put("vnet_hdr", true)
                    .without("local-migration-supported"));
        }
    }

    @Test
    void theV10FormStaysTheDefaultAndLocalMayComeAfterTheTargetsNetdev() throws Exception {
        try (QmpClient s = source("q35"); QmpClient t = target()) {
            s.execute("netdev_add", sourceNetdev());
            s.execute("device_add", nic());
            t.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "tap0").put("queues", 4)
                    .put("incoming-fds", true).put("script", "no").put("downscript", "no"));
            t.execute("device_add", nic());
            t.execute("migrate-set-parameters", local(true)); // after the netdev: fine in the seed's form
            s.execute("migrate-set-parameters", local(true));
            assertEquals(List.of("completed", "completed"), migrate(s, t), errorDesc(s) + " / " + errorDesc(t));
        }
    }

    @Test
    void theSchemaListsTheNewNetdevProperties() throws Exception {
        try (QmpClient t = target()) {
            JsonNode schema = t.execute("query-qmp-schema", null);
            String argType = null;
            for (JsonNode e : schema) {
                if (e.path("name").asText().equals("netdev_add")) {
                    argType = e.path("arg-type").asText();
                }
            }
            Set<String> members = new HashSet<>();
            for (JsonNode e : schema) {
                if (e.path("name").asText().equals(argType)) {
                    e.path("members").forEach(m -> members.add(m.path("name").asText() + ":" + m.path("type").asText()));
                }
            }
            assertTrue(members.contains("local-migration-supported:bool"), "netdev_add's members: " + members);
            assertTrue(members.contains("x-downscript-duty:bool"), "netdev_add's members: " + members);
            assertTrue(members.contains("incoming-fds:bool"), "netdev_add's members: " + members);
        }
    }

    // --- the review's script rule, and livetap's downscript-duty extension ---

    @Test
    void incomingFdsNeedsScriptAndDownscriptGivenAsNo() throws Exception {
        try (QmpClient t = target()) {
            ObjectNode bare = args().put("type", "tap").put("id", "net0").put("queues", 4).put("incoming-fds", true);
            assertEquals("incoming-fds requires script=no and downscript=no (got script absent, downscript absent): the TAP"
                    + " arrives from the migration source already set up, and an absent script= or downscript= means"
                    + " QEMU's default /etc/qemu-ifup or /etc/qemu-ifdown", error(t, "netdev_add", bare));
            String path = error(t, "netdev_add", bare.deepCopy().put("script", "no").put("downscript", "/etc/down"));
            assertTrue(path.startsWith("incoming-fds requires script=no and downscript=no (got script=no,"
                    + " downscript=/etc/down)"), path);
            assertTrue(path.endsWith("add x-downscript-duty=on"), "the refusal names the extension: " + path);
            assertFalse(error(t, "netdev_add", bare.deepCopy().put("script", "/etc/up").put("downscript", "no"))
                    .contains("incompatible"), "scripts are not 'incompatible': they must be 'no'");
            assertEquals("x-downscript-duty=on needs downscript=PATH (the downscript this target runs once the source has"
                    + " received 'loaded')", error(t, "netdev_add", bare.deepCopy().put("script", "no")
                    .put("downscript", "no").put("x-downscript-duty", true)));
            t.execute("netdev_add", bare.deepCopy().put("script", "no").put("downscript", "/etc/down")
                    .put("x-downscript-duty", true));
            t.execute("netdev_add", bare.deepCopy().put("id", "net1").put("script", "no").put("downscript", "no"));
        }
        try (QmpClient s = source("q35")) {
            assertEquals("x-downscript-duty=on applies only to a migration target's netdev (incoming-fds=on)",
                    error(s, "netdev_add", sourceNetdev().put("downscript", "/etc/down").put("x-downscript-duty", true)));
        }
    }

    /** Polls {@code query-status} until the run state is {@code state} or {@code within} passed; the last one seen. */
    private static String runStateWithin(QmpClient c, String state, Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        String last = c.execute("query-status", null).path("status").asText();
        while (!last.equals(state) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            last = c.execute("query-status", null).path("status").asText();
        }
        return last;
    }
}
