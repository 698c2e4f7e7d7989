package dev.livetap.testbed;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SIGTERM, the grace, then SIGKILL and the reap of {@link ChildProcess#terminate(Duration, Duration)}. */
class ChildProcessTerminateTest {

    @Test
    void aChildThatIgnoresSigtermIsKilledAfterTheGrace(@TempDir Path dir) throws Exception {
        // the trap is set before 'ready' is written: SIGTERM only after that
        ChildProcess child = ChildProcess.start(List.of("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"), dir,
                "stubborn");
        try {
            assertTrue(child.awaitFile(dir.resolve("stubborn.out"), Duration.ofSeconds(10)));
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!Files.readString(dir.resolve("stubborn.out")).contains("ready") && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            long start = System.nanoTime();
            child.terminate(Duration.ofMillis(300), Duration.ofSeconds(20));
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertFalse(child.isAlive());
            assertTrue(tookMs >= 250, "SIGTERM was ignored, so the grace passed before SIGKILL: " + tookMs + " ms");
        } finally {
            child.destroy();
        }
    }

    @Test
    void aChildThatEndsOnSigtermIsNotWaitedForLonger(@TempDir Path dir) throws Exception {
        ChildProcess child = ChildProcess.start(List.of("sleep", "60"), dir, "sleeper");
        try {
            long start = System.nanoTime();
            child.terminate(Duration.ofSeconds(20), Duration.ofSeconds(20));
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertFalse(child.isAlive());
            assertTrue(tookMs < 10_000, "sleep ends on SIGTERM at once: " + tookMs + " ms");
        } finally {
            child.destroy();
        }
    }
}
