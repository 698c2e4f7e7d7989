package dev.livetap.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.HostCommand;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code livetap cleanup}: stale sockets go, live ones and other files stay; a dead creator's namespace and its TAP go. */
@RequiresRoot
@RequiresTun
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CleanupCommandTest {
    static final Duration T = Duration.ofSeconds(10);

    private static String run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            int rc = LivetapCommand.commandLine().execute(args);
            assertEquals(ExitCodes.OK, rc, "cleanup succeeds: " + buf);
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void removesStaleSocketsAndDeadProcessesNamespacesWithTheirTapsOnly() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor(5, TimeUnit.SECONDS);
        String ns = "livetap-t" + gone.pid() + "-1";
        Path dir = Files.createTempDirectory("livetap-cleanup");
        Path stale = dir.resolve("old.qmp");
        Path live = dir.resolve("live.qmp");
        Path file = dir.resolve("notes.txt");
        JnaOs.instance().unix().listen(stale, 0600).close();
        Files.writeString(file, "keep me");
        try (OwnedFd listener = JnaOs.instance().unix().listen(live, 0600)) {
            HostCommand.run(T, List.of("ip", "netns", "add", ns));
            assertEquals(0, HostCommand.run(T, List.of("ip", "-n", ns, "tuntap", "add", "mode", "tap", "name", "ltc0")).exitCode());

            String dry = run("cleanup", "--dir", dir.toString(), "--dry-run");
            assertTrue(dry.contains("would remove socket  " + stale) || dry.contains("would remove socket " + stale), dry);
            assertTrue(dry.contains(ns), "the dead creator's namespace is listed: " + dry);
            assertTrue(Files.exists(stale) && HostCommand.run(T, List.of("ip", "netns", "list")).output().contains(ns),
                    "--dry-run removes nothing");

            String json = run("cleanup", "--dir", dir.toString(), "--json");
            List<String> removed = new ArrayList<>();
            new com.fasterxml.jackson.databind.ObjectMapper().readTree(json).path("removed")
                    .forEach(r -> removed.add(r.path("kind").asText() + " " + r.path("name").asText()));
            assertTrue(removed.contains("socket " + stale), json);
            assertTrue(removed.contains("tap " + ns + "/ltc0"), "its TAP is removed: " + json);
            assertTrue(removed.contains("netns " + ns), json);
            assertFalse(Files.exists(stale), "the stale socket is removed");
            assertTrue(Files.exists(live), "a socket with a live listener stays");
            assertEquals("keep me", Files.readString(file), "files that are not sockets stay");
            assertFalse(HostCommand.run(T, List.of("ip", "netns", "list")).output().contains(ns), "the namespace is deleted");
            assertFalse(json.contains(live.toString()), json);
        } finally {
            HostCommand.run(T, List.of("ip", "netns", "del", ns));
            JnaOs.instance().unix().unlinkSocket(live);
            Files.deleteIfExists(stale);
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    private static int exitOf(String... args) {
        PrintStream old = System.out;
        System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        try {
            return LivetapCommand.commandLine().execute(args);
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void dryRunOnAHealthyHostExitsZero() throws Exception {
        Path empty = Files.createTempDirectory("livetap-cleanup-empty");
        try {
            assertEquals(ExitCodes.OK, exitOf("cleanup", "--dir", empty.toString(), "--dry-run"),
                    "nothing (or only notes) to clean up is a success");
        } finally {
            Files.deleteIfExists(empty);
        }
    }

    @Test
    void forceEndsLivetapsOwnLeftoversButNeverAForeignProcess() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor(5, TimeUnit.SECONDS);
        String ns = "livetap-t" + gone.pid() + "-7";
        Path empty = Files.createTempDirectory("livetap-cleanup-force");
        Process foreign = null;
        Process ping = null;
        try {
            HostCommand.run(T, List.of("ip", "netns", "add", ns)).orThrow();
            HostCommand.run(T, List.of("ip", "-n", ns, "link", "set", "lo", "up")).orThrow();
            foreign = new ProcessBuilder("ip", "netns", "exec", ns, "sleep", "60").start();
            long foreignPid = foreign.pid();
            await(() -> !HostCommand.run(T, List.of("ip", "netns", "pids", ns)).output().isBlank());
            assertEquals(ExitCodes.FAILED, exitOf("cleanup", "--dir", empty.toString(), "--force"),
                    "a namespace used by a process that is not livetap's is a problem");
            assertTrue(foreign.isAlive(), "--force never ends a process that is not livetap's");
            assertTrue(HostCommand.run(T, List.of("ip", "netns", "list")).output().contains(ns), "and keeps its namespace");
            foreign.destroyForcibly().waitFor(5, TimeUnit.SECONDS);

            ping = new ProcessBuilder("ip", "netns", "exec", ns, "ping", "-n", "-i", "0.5", "-w", "60", "127.0.0.1").start();
            await(() -> !HostCommand.run(T, List.of("ip", "netns", "pids", ns)).output().isBlank());
            assertEquals(ExitCodes.FAILED, exitOf("cleanup", "--dir", empty.toString()), "without --force a used namespace stays");
            assertEquals(ExitCodes.OK, exitOf("cleanup", "--dir", empty.toString(), "--dry-run"), "--dry-run only notes it");
            assertTrue(ping.isAlive(), "--dry-run ends nothing");
            assertEquals(ExitCodes.OK, exitOf("cleanup", "--dir", empty.toString(), "--force"), "--force ends livetap's ping");
            assertTrue(ping.waitFor(5, TimeUnit.SECONDS), "ping was ended");
            assertFalse(HostCommand.run(T, List.of("ip", "netns", "list")).output().contains(ns), "and the namespace removed");
            assertTrue(foreignPid > 0);
        } finally {
            if (foreign != null) {
                foreign.destroyForcibly();
            }
            if (ping != null) {
                ping.destroyForcibly();
            }
            HostCommand.run(T, List.of("ip", "netns", "del", ns));
            Files.deleteIfExists(empty);
        }
    }

    private static void await(java.util.function.BooleanSupplier c) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!c.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "condition within 10 s");
            Thread.sleep(50);
        }
    }
}
