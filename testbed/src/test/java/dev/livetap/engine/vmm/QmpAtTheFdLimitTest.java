package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpJson;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.testbed.HostCommand;
import dev.livetap.testbed.vmm.VmmProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real {@code livetap vmm} at its descriptor limit (RLIMIT_NOFILE lowered with prlimit(1) so that
 * no descriptor number is free) keeps its QMP clients: a {@code getfd} whose fd the kernel drops
 * (MSG_CTRUNC) gets an error reply saying so and the session answers the next command; a client
 * that connects meanwhile waits in the backlog (the listener rests instead of spinning) and gets
 * its greeting once descriptors are free again.
 */
@RequiresRoot
@Timeout(value = 90, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpAtTheFdLimitTest {
    @Test
    void aVmmAtItsFdLimitAnswersWithAnErrorAndKeepsItsSessions() throws Exception {
        Path dir = Files.createTempDirectory("livetap-qmp-fd-limit");
        OwnedFd[] pipe = JnaOs.instance().fds().pipe();
        try (VmmProcess vmm = VmmProcess.start(VmmProcess.Options.of(dir, "vm").withArgs(List.of("--no-warm-up")))) {
            vmm.connect();
            assertEquals("running", vmm.runState());
            String softLimit = softFdLimit(vmm.pid());
            limitToOpenDescriptors(vmm.pid());

            JsonNode reply = vmm.qmp().request("getfd", QmpJson.object().put("fdname", "held"), List.of(pipe[0]));
            String desc = reply.path("error").path("desc").asText();
            assertEquals("GenericError", reply.path("error").path("class").asText(), reply.toString());
            assertTrue(desc.startsWith("the file descriptors sent with 'getfd' did not arrive:") && desc.contains("EMFILE"),
                    "the client is told its fd was dropped at the VMM's limit: " + desc);
            assertEquals("running", vmm.runState(), "the session stays and answers the next command");

            // a client connecting now is accepted once a descriptor is free, not refused or spun on
            CompletableFuture<QmpClient> second = CompletableFuture.supplyAsync(() -> {
                try {
                    return QmpClient.connect(vmm.qmpSocket(), Duration.ofSeconds(30));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(500); // within the limit for a while: the listener must rest, not spin
            assertTrue(HostCommand.run(Duration.ofSeconds(10), List.of("prlimit", "--pid", Long.toString(vmm.pid()),
                    "--nofile=" + softLimit + ":")).ok(), "prlimit back to " + softLimit);
            try (QmpClient late = second.get(20, TimeUnit.SECONDS)) {
                late.negotiate();
                assertEquals("running", late.execute("query-status", null).path("status").asText());
            }
            long rests = Stream.of(Files.readString(vmm.log()), vmm.stderr()).flatMap(String::lines)
                    .filter(l -> l.contains("QMP accept on") && l.contains("retrying in")).count();
            assertTrue(rests <= 20, "the listener rested between accept attempts (" + rests + " WARN lines in ~0.5 s)");

            vmm.qmp().getfd("held", pipe[0]); // with descriptors free again the same client's getfd works
            vmm.execute("closefd", VmmProcess.args().put("fdname", "held"));
            assertTrue(vmm.isAlive());
        } finally {
            OwnedFd.closeAll(List.of(pipe));
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** The process's soft RLIMIT_NOFILE, from /proc/PID/limits ("Max open files  SOFT  HARD  files"). */
    private static String softFdLimit(long pid) throws Exception {
        String line = Files.readAllLines(Path.of("/proc", Long.toString(pid), "limits")).stream()
                .filter(l -> l.startsWith("Max open files")).findFirst().orElseThrow();
        return line.substring("Max open files".length()).trim().split("\\s+")[0];
    }

    /** The soft limit at the lowest free descriptor number: every number below it is taken. */
    private static void limitToOpenDescriptors(long pid) throws Exception {
        Set<Integer> open;
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            open = fds.map(p -> Integer.parseInt(p.getFileName().toString())).collect(Collectors.toSet());
        }
        int lowestFree = 0;
        while (open.contains(lowestFree)) {
            lowestFree++;
        }
        HostCommand.Result r = HostCommand.run(Duration.ofSeconds(10), List.of("prlimit", "--pid", Long.toString(pid),
                "--nofile=" + lowestFree + ":"));
        assertTrue(r.ok(), "prlimit: " + r);
        assertFalse(open.isEmpty());
    }
}
