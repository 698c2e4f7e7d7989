package dev.livetap.actors.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.testing.Endpoint;
import dev.livetap.actors.testing.PathTransport;
import dev.livetap.actors.vm.VmActor;
import dev.livetap.nativeio.memory.InMemoryKernel;
import dev.livetap.nativeio.memory.InMemoryOs;
import dev.livetap.nativeio.memory.InMemoryReactorDriver;
import dev.livetap.simulation.doubles.RecordingVhostBackend;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Issue 16: every line the NICs and their queues log while they handle a migration carries that
 * migration's id in the MDC ({@value MigrationMdc#KEY}), the source's id on the source side and the
 * target's on the target side; a completed migration and one the target fails (rollback, discard).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class DeviceLogMdcTest {
    static final String URI = "unix:/run/livetap/migration.sock";

    InMemoryKernel kernel;
    InMemoryOs srcOs;
    InMemoryOs tgtOs;
    InMemoryReactorDriver driver;
    ActorTestKit kit;
    PathTransport tgtTransport;
    Logger devices;
    Level levelBefore;
    ListAppender<ILoggingEvent> seen;

    @BeforeEach
    void setUp() {
        kernel = new InMemoryKernel();
        kernel.clock().advance(Duration.ofSeconds(1));
        srcOs = kernel.newProcess("source");
        tgtOs = kernel.newProcess("target");
        driver = new InMemoryReactorDriver(srcOs, tgtOs);
        kit = ActorTestKit.create("mdc");
        tgtTransport = new PathTransport(tgtOs);
        devices = (Logger) LoggerFactory.getLogger("dev.livetap.actors");
        levelBefore = devices.getLevel();
        seen = new ListAppender<>();
        seen.start();
    }

    @AfterEach
    void tearDown() {
        devices.detachAppender(seen);
        devices.setLevel(levelBefore);
        kit.shutdownTestKit();
        driver.close();
    }

    private Endpoint source() {
        return new Endpoint(kit, "src", srcOs, new PathTransport(srcOs), false, false, new RecordingVhostBackend(),
                InMemoryMigrationTest.TIMEOUTS);
    }

    private Endpoint target(RecordingVhostBackend vhost, boolean withVhost) {
        Endpoint tgt = new Endpoint(kit, "tgt", tgtOs, tgtTransport, true, false, vhost, InMemoryMigrationTest.TIMEOUTS);
        tgt.netdev(withVhost ? Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                "script", "no", "downscript", "no", "vhost", true)
                : Map.of("id", "net0", "ifname", "tap0", "queues", 4, "incoming-fds", true,
                        "script", "no", "downscript", "no"));
        tgt.nic("nic0", "net0");
        return tgt;
    }

    /** Captures every line of the loggers under dev.livetap.actors, DEBUG included, from now on. */
    private void startCapture() {
        devices.setLevel(Level.DEBUG);
        devices.addAppender(seen);
    }

    private List<ILoggingEvent> stopCapture() {
        devices.detachAppender(seen);
        return List.copyOf(seen.list);
    }

    private void migrate(Endpoint src, Endpoint tgt) throws Exception {
        tgt.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r)); // semantic 1: the target's switch too
        tgt.ok(r -> new VmActor.MigrateIncoming(URI, r));
        tgtTransport.listening().get(5, TimeUnit.SECONDS);
        src.ok(r -> new VmActor.MigrateSetParameters(MigrationParameters.Update.fromQmp(Map.of("local", true)), r));
        src.ok(r -> new VmActor.Migrate(URI, r));
    }

    @Test
    void aCompletedMigrationsDeviceLinesCarryEachSidesId() throws Exception {
        Endpoint src = source();
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4));
        src.nic("nic0", "net0");
        Endpoint tgt = target(new RecordingVhostBackend(), false);
        startCapture();
        migrate(src, tgt);
        src.awaitMigrationStatus("completed");
        tgt.awaitMigrationStatus("completed");
        tgt.awaitRunState("running"); // the migration's autostart
        awaitOpen(srcOs, 0); // the source's queues released their fds: the migration's last lines there
        List<ILoggingEvent> lines = stopCapture();
        List<ILoggingEvent> device = assertEveryDeviceLineTagged(lines, src.info().migrationId(), tgt.info().migrationId());
        assertLogged(device, "nic0: section loaded", tgt.info().migrationId());
        assertLogged(device, "queue 0: released to the target", src.info().migrationId());
    }

    @Test
    void aFailedMigrationsRollbackAndDiscardLinesCarryEachSidesId() throws Exception {
        Endpoint src = source();
        src.netdev(Map.of("id", "net0", "ifname", "tap0", "queues", 4));
        src.nic("nic0", "net0");
        Endpoint tgt = target(new RecordingVhostBackend().failSetUp(2), true);
        startCapture();
        migrate(src, tgt);
        src.awaitMigrationStatus("failed");
        tgt.awaitMigrationStatus("failed");
        src.awaitRunState("running");
        awaitOpen(tgtOs, 0); // the target closed what it received
        List<ILoggingEvent> lines = stopCapture();
        List<ILoggingEvent> device = assertEveryDeviceLineTagged(lines, src.info().migrationId(), tgt.info().migrationId());
        assertLogged(device, "rolled back, paused with its fd", src.info().migrationId());
        assertLogged(device, "discarded the fd received from the stream", tgt.info().migrationId());
        assertLogged(device, "injected failure", tgt.info().migrationId());
    }

    /** The NIC's and the queues' lines, each checked against its side's id; returns them. */
    private static List<ILoggingEvent> assertEveryDeviceLineTagged(List<ILoggingEvent> lines, String srcId, String tgtId) {
        assertNotNull(srcId);
        assertNotNull(tgtId);
        assertNotEquals(srcId, tgtId, "each side names its migration itself");
        List<ILoggingEvent> device = lines.stream().filter(e -> e.getLoggerName().startsWith("dev.livetap.actors.nic")
                || e.getLoggerName().startsWith("dev.livetap.actors.tap")).toList();
        assertFalse(device.isEmpty(), "the devices logged during the migration: " + describe(lines));
        boolean sawSource = false;
        boolean sawTarget = false;
        for (ILoggingEvent e : device) {
            String side = side(e);
            String expected = side.equals("src") ? srcId : tgtId;
            assertEquals(expected, e.getMDCPropertyMap().get(MigrationMdc.KEY),
                    "the " + side + " side's line carries its migration id: " + describe(List.of(e)));
            sawSource |= side.equals("src");
            sawTarget |= side.equals("tgt");
        }
        assertTrue(sawSource && sawTarget, "lines from both sides: " + describe(device));
        // the migration roles' own lines carry the same ids (the behaviour the devices now share)
        lines.stream().filter(e -> e.getLoggerName().startsWith("dev.livetap.actors.migration")
                && e.getMDCPropertyMap().containsKey("pekkoSource")).forEach(e -> assertEquals(
                side(e).equals("src") ? srcId : tgtId, e.getMDCPropertyMap().get(MigrationMdc.KEY), describe(List.of(e))));
        return device;
    }

    /** The actor that logged the line: under the source's VM ({@code /user/src}) or the target's. */
    private static String side(ILoggingEvent e) {
        String path = e.getMDCPropertyMap().get("pekkoSource");
        assertNotNull(path, "the actor's path is in the MDC: " + describe(List.of(e)));
        if (path.contains("/user/src/") || path.endsWith("/user/src")) {
            return "src";
        }
        assertTrue(path.contains("/user/tgt/") || path.endsWith("/user/tgt"), "a line of src or tgt: " + path);
        return "tgt";
    }

    private static void assertLogged(List<ILoggingEvent> device, String text, String id) {
        assertTrue(device.stream().anyMatch(e -> e.getFormattedMessage().contains(text)
                && id.equals(e.getMDCPropertyMap().get(MigrationMdc.KEY))), "'" + text + "' logged with " + id + ": "
                + describe(device));
    }

    private static String describe(List<ILoggingEvent> lines) {
        StringBuilder b = new StringBuilder();
        for (ILoggingEvent e : lines) {
            b.append("\n  ").append(e.getLevel()).append(' ').append(e.getLoggerName()).append(' ')
                    .append(e.getMDCPropertyMap()).append(' ').append(e.getFormattedMessage());
        }
        return b.toString();
    }

    private static void awaitOpen(InMemoryOs os, int expected) {
        long deadline = System.nanoTime() + Endpoint.WAIT.toNanos();
        while (os.ledger().open() != expected && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(expected, os.ledger().open(), "fds open in " + os);
    }
}
