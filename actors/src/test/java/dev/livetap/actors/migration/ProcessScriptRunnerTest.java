package dev.livetap.actors.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The real script runner: {@code PATH ifname}, its exit status, and a kill after the timeout. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class ProcessScriptRunnerTest {
    private final ExecutorService blocking = Executors.newSingleThreadExecutor();

    @AfterEach
    void stop() {
        blocking.shutdownNow();
    }

    private static Path script(Path dir, String body) throws Exception {
        Path p = dir.resolve("script.sh");
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    @Test
    void runsPathWithTheInterfaceNameAndReportsTheExitStatus(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("arg");
        Path s = script(dir, "echo \"$1\" > " + out + "; exit 3");
        int status = new ProcessScriptRunner(Duration.ofSeconds(5), blocking).run(s.toString(), "tap7")
                .toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertEquals(3, status, "the script's exit status is reported");
        assertEquals("tap7", Files.readString(out).trim(), "the script gets the interface name as its argument");
    }

    @Test
    void aScriptThatHangsIsKilledAfterTheTimeout(@TempDir Path dir) throws Exception {
        Path s = script(dir, "exec sleep 30");
        ExecutionException e = assertThrows(ExecutionException.class, () -> new ProcessScriptRunner(Duration.ofMillis(200),
                blocking).run(s.toString(), "tap7").toCompletableFuture().get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().endsWith("did not finish within 200 ms and was killed"), e.getCause().getMessage());
    }
}
