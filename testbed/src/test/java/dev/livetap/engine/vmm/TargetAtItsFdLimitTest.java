package dev.livetap.engine.vmm;

import static dev.livetap.testbed.vmm.VmmProcess.args;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.orchestration.LocalMigration;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real {@code livetap vmm} target at its descriptor limit (RLIMIT_NOFILE lowered with prlimit(1)
 * once it listens): the 4 TAP queue fds of the source's section cannot be installed (the kernel sets
 * MSG_CTRUNC), the target stays alive and tells the source why on the return path, so the source's
 * {@code error-desc} names the target's limit instead of only a closed channel; the source rolls back
 * and runs again.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 150, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TargetAtItsFdLimitTest {
    private static final String TAP = "lf0";

    /**
     * A 4-queue NIC on both sides, {@code local} on both, the target listening (exit-on-error false) and its
     * descriptor limit set to what it has open now plus {@code free}; returns the migration URI.
     */
    private static String incomingAtTheLimit(VmmPair pair, int free) throws Exception {
        pair.source.addNic(TAP, 4, false, "52:54:00:12:34:56");
        pair.target.addNic(TAP, 4, true, "52:54:00:12:34:56");
        pair.source.execute("migrate-set-parameters", args().put("local", true));
        pair.target.execute("migrate-set-parameters", args().put("local", true));
        String uri = LocalMigration.defaultUri(pair.target.qmpSocket());
        pair.target.execute("migrate-incoming", args().put("uri", uri).put("exit-on-error", false));
        int open = openFds(pair.target.pid());
        HostCommand.Result limited = HostCommand.run(Duration.ofSeconds(10), List.of("prlimit", "--pid",
                Long.toString(pair.target.pid()), "--nofile=" + (open + free) + ":"));
        assertTrue(limited.ok(), "prlimit: " + limited);
        return uri;
    }

    @Test
    void aTargetAtItsFdLimitTellsTheSourceWhy() throws Exception {
        try (VmmPair pair = VmmPair.start("livetap-fd-limit")) {
            VmmProcess source = pair.source;
            VmmProcess target = pair.target;
            // room for the accepted connection and one more, not for the section's 4 queue fds
            String uri = incomingAtTheLimit(pair, 2);
            source.execute("migrate", args().put("uri", uri));
            JsonNode failed = VmmPair.awaitFinal(source, Duration.ofSeconds(40));
            assertEquals("failed", failed.path("status").asText(), failed.toString());
            String desc = failed.path("error-desc").asText();
            assertTrue(desc.startsWith("the target failed to load the migration: the target could not receive the"
                    + " migration stream: "), "the source says what happened on the target: " + desc);
            assertTrue(desc.contains("MSG_CTRUNC") && desc.contains("EMFILE"), "the target's descriptor limit is named: " + desc);
            assertFalse(desc.contains("closed before the target answered"), desc);
            assertTrue(target.isAlive(), "the target at its limit stays alive (exit-on-error false)");
            assertEquals(0, tapFds(target.pid()), "the target closed the TAP fds that did arrive");
            // QEMU's order: 'failed' is announced first, the source resumes after it
            assertEquals("running", VmmPair.awaitRunState(source, "running", Duration.ofSeconds(20)),
                    "the source rolled back and runs again");
            // the target's own QMP session is not asked here: at its fd limit it may lose it (seen once)
        }
    }

    /**
     * One more descriptor than above: all 4 queue fds arrive and leave the target with none free. Nothing
     * the target does next may need one: from a class path of directories a first class load opens its
     * .class file, and the stream decoder's NoClassDefFoundError there ended the target's JVM (Pekko's
     * exit on a fatal error). Now every library class is loaded when the engine starts; how this
     * migration ends depends on what else needs a descriptor, but the target answers and stays.
     */
    @Test
    void aTargetLeftWithNoFreeDescriptorByTheTapFdsStillAnswersAndStays() throws Exception {
        try (VmmPair pair = VmmPair.start("livetap-fd-limit")) {
            VmmProcess source = pair.source;
            VmmProcess target = pair.target;
            String uri = incomingAtTheLimit(pair, 3);
            source.execute("migrate", args().put("uri", uri));
            JsonNode done = VmmPair.awaitFinal(source, Duration.ofSeconds(40));
            String status = done.path("status").asText();
            assertTrue(status.equals("completed") || status.equals("failed")
                    && done.path("error-desc").asText().startsWith("the target failed to load the migration: "),
                    "the target completes or says why: " + done);
            assertTrue(target.isAlive(), "the target at its limit stays alive: " + target.tail());
        }
    }

    /** The process's fds open on /dev/net/tun (TAP queues). */
    private static long tapFds(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().equals("/dev/net/tun");
                } catch (IOException e) {
                    return false; // closed while listed
                }
            }).count();
        }
    }

    private static int openFds(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return (int) fds.count();
        }
    }
}
