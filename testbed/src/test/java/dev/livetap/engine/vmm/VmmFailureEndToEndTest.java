package dev.livetap.engine.vmm;

import static dev.livetap.testbed.vmm.VmmProcess.args;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.ProcessCensus;
import dev.livetap.testbed.vmm.VmmProcess;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * Failed migrations between real VMM processes, then {@code cont} on the source (semantic 7):
 * the source answers ping again and holds exactly the descriptors it held before (counted in
 * /proc/PID/fd of the source process). One source serves every case.
 */
@RequiresTun
@RequiresRoot
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VmmFailureEndToEndTest {
    static final String GUEST = "10.0.1.2";
    NetworkNamespace ns;
    Path dir;
    VmmProcess source;
    final List<VmmProcess> targets = new ArrayList<>();

    @BeforeAll
    void setUp() throws Exception {
        ns = NetworkNamespace.create();
        dir = Files.createTempDirectory("livetap-fail");
        source = VmmProcess.start(VmmProcess.Options.of(dir, "src").withPrefix(ns.wrap(List.of())));
        source.connect();
        source.addNic("lt0", 4, false, "52:54:00:12:34:56");
        ns.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
        ns.run("ip", "addr", "add", "10.0.1.1/24", "dev", "lt0");
        ns.run("ip", "link", "set", "lt0", "up");
        assertTrue(ns.exec(Duration.ofSeconds(10), "ping", "-c", "2", "-i", "0.2", "-W", "2", GUEST).ok(),
                "the source answers before any migration");
    }

    @AfterAll
    void tearDown() throws Exception {
        for (VmmProcess t : targets) {
            t.close();
        }
        if (source != null) {
            source.close();
        }
        if (ns != null) {
            ns.close();
        }
        try (var l = Files.list(dir)) {
            for (Path p : l.toList()) {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }

    private VmmProcess target(String name, String... extra) throws Exception {
        VmmProcess t = VmmProcess.start(VmmProcess.Options.of(dir, name).withPrefix(ns.wrap(List.of())).withArgs(List.of(extra)));
        targets.add(t);
        return t.connect();
    }

    private JsonNode awaitSourceStatus(String... wanted) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        JsonNode info = null;
        while (System.nanoTime() < deadline) {
            info = source.execute("query-migrate");
            for (String w : wanted) {
                if (w.equals(info.path("status").asText())) {
                    return info;
                }
            }
            Thread.sleep(2);
        }
        throw new AssertionError("source status never became " + List.of(wanted) + ": " + info);
    }

    private void contAndCheck(List<String> fdsBefore, String what) throws Exception {
        JsonNode failed = awaitSourceStatus("failed");
        source.execute("cont");
        assertEquals("running", source.runState(), what + ": cont resumes the source");
        assertTrue(ns.exec(Duration.ofSeconds(10), "ping", "-c", "3", "-i", "0.2", "-W", "2", GUEST).ok(),
                what + ": after cont the source answers ping again on its own TAP queues; " + failed);
        List<String> after = ProcessCensus.targetsBesideTheJvmsOwn(source.pid()).orElseThrow();
        assertEquals(fdsBefore, after, what + ": the source holds exactly the descriptors it held before the "
                + "migration (no fd leaked, its 4 TAP queues kept)");
    }

    @Test
    void targetKilledMidWayLeavesTheSourceResumable() throws Exception {
        VmmProcess t = target("killed", "--incoming");
        t.addNic("lt0", 4, true, "52:54:00:12:34:56");
        String uri = LocalMigration.defaultUri(t.qmpSocket());
        source.execute("migrate-set-parameters", args().put("local", true));
        t.execute("migrate-set-parameters", args().put("local", true));
        t.execute("migrate-incoming", args().put("uri", uri));
        Path sock = Path.of(uri.substring(5));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(sock) && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
        List<String> before = ProcessCensus.targetsBesideTheJvmsOwn(source.pid()).orElseThrow();
        // frozen target: the kernel still completes the connection and buffers the whole stream, fds included
        t.signal("STOP");
        source.execute("migrate", args().put("uri", uri));
        JsonNode device = awaitSourceStatus("device", "failed");
        assertEquals("device", device.path("status").asText(),
                "the source stopped its queues and sent its state; it now waits for the target's answer: " + device);
        t.signal("KILL");
        t.awaitExit(Duration.ofSeconds(20)).orElse(-1);
        JsonNode failed = awaitSourceStatus("failed");
        assertFalse(failed.path("error-desc").asText().isEmpty(), "the failure says why: " + failed);
        contAndCheck(before, "target killed mid-way");
    }

    @Test
    void targetPostLoadFailureRollsBackAndTheSourceResumes() throws Exception {
        VmmProcess t = target("postload", "--incoming", "--x-fault-vhost-setup", "2");
        t.execute("netdev_add", args().put("type", "tap").put("id", "net0").put("ifname", "lt0").put("queues", 4)
                .put("incoming-fds", true).put("script", "no").put("downscript", "no").put("vhost", true));
        t.execute("device_add", args().put("driver", "virtio-net-pci").put("id", "nic0").put("netdev", "net0")
                .put("mq", true).put("mac", "52:54:00:12:34:56"));
        List<String> before = ProcessCensus.targetsBesideTheJvmsOwn(source.pid()).orElseThrow();
        // exit-on-error=false: the target stays after its failure, so that its own status can be read
        LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(source.qmpSocket(), t.qmpSocket()), line -> { },
                new LocalMigration.Hooks() {
                    @Override
                    public boolean targetStaysAfterFailure() {
                        return true;
                    }
                });
        assertEquals("failed", r.status(), LocalMigration.format(r));
        assertTrue(String.valueOf(r.error()).contains("Failed to setup vhost during TAP post-load"),
                () -> "the target's post_load failure travels back on the return path: " + r.error()
                        + "\n--- target log:\n" + t.stderr() + "\n--- source log (tail):\n" + tail(source.stderr(), 40));
        JsonNode tgt = t.execute("query-migrate");
        assertEquals("failed", tgt.path("status").asText(), tgt.toString());
        contAndCheck(before, "target post_load failed");
    }

    private static String tail(String log, int lines) {
        String[] all = log.split("\n");
        return String.join("\n", java.util.Arrays.asList(all).subList(Math.max(0, all.length - lines), all.length));
    }
}
