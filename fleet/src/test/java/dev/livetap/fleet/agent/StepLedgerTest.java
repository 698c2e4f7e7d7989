package dev.livetap.fleet.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The ledger's retention rule: bounded in memory and on disk, and the steps a coordinator may repeat are still known. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class StepLedgerTest {
    private static final int STEPS = 600;

    @TempDir
    Path dir;

    /** fds of this JVM open on files under the test's directory (the JVM's own come and go). */
    private long fdsOnTheLedger() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).startsWith(dir);
                } catch (IOException e) {
                    return false; // the fd was closed while listing
                }
            }).count();
        }
    }

    @Test
    void sixHundredStepsOverFourVmsKeepTwoPerVmInMemoryAndOnDiskAcrossReopening() throws Exception {
        Path file = dir.resolve("agent.ledger");
        long fds0 = fdsOnTheLedger();
        try (StepLedger ledger = StepLedger.open(file)) {
            long mostLines = 0;
            long mostLinesNow = 0;
            int compactions = 0;
            // every line is forced to disk (a few ms each on the shared machine): 600 steps, compacted about 12 times
            for (int n = 0; n < STEPS; n++) {
                long epoch = 1 + n / 150; // four coordinator epochs on the way
                if (n % 150 == 0) {
                    ledger.recordEpoch(epoch);
                }
                String vm = "vm" + (n % 4);
                ledger.recordStarted("m-" + epoch + "-" + n, vm, epoch);
                ledger.recordEnded("m-" + epoch + "-" + n, vm, n % 7 == 0 ? "failed: no freeze permit" : "completed");
                assertTrue(ledger.size() <= 4 * StepLedger.KEEP_PER_VM, "kept: " + ledger.size() + " after " + n);
                compactions += ledger.linesInFile() < mostLinesNow ? 1 : 0;
                mostLinesNow = ledger.linesInFile();
                mostLines = Math.max(mostLines, ledger.linesInFile());
                if (n % 50 == 0) {
                    assertEquals(ledger.linesInFile(), Files.readAllLines(file).size(), "the count follows the file");
                }
            }
            assertEquals(8, ledger.size());
            assertTrue(mostLines <= 2 * 17 + StepLedger.COMPACT_SLACK_LINES + 1, "the file stays bounded: " + mostLines);
            assertTrue(compactions >= 10, "compacted " + compactions + " times");
            assertEquals(1, fdsOnTheLedger() - fds0, "compacting leaves one fd on the ledger");
        }
        assertEquals(0, fdsOnTheLedger() - fds0, "closing releases it");
        try (StepLedger again = StepLedger.open(file)) {
            assertEquals(4, again.highestEpoch());
            assertEquals(8, again.size());
            assertEquals(17, again.linesInFile(), "compacted at open: the epoch and two lines per kept step");
            for (int vm = 0; vm < 4; vm++) {
                int last = STEPS - 4 + vm;
                int before = STEPS - 8 + vm;
                assertEquals("completed", again.get("m-4-" + last).orElseThrow().outcome(), "the latest step of vm" + vm);
                assertEquals(before % 7 == 0 ? "failed: no freeze permit" : "completed",
                        again.get("m-4-" + before).orElseThrow().outcome(), "and the one before");
                assertFalse(again.get("m-4-" + (STEPS - 12 + vm)).isPresent(), "older ended steps are forgotten");
                assertEquals(4, again.get("m-4-" + last).orElseThrow().epoch());
            }
        }
    }

    @Test
    void anOpenStepIsNeverForgottenHoweverManyStepsFollowIt() throws Exception {
        Path file = dir.resolve("agent.ledger");
        try (StepLedger ledger = StepLedger.open(file)) {
            ledger.recordEpoch(3);
            ledger.recordStarted("m-3-1", "vm-a", 3); // the agent dies mid-step: never ended
            for (int n = 2; n < 200; n++) {
                ledger.recordStarted("m-3-" + n, "vm-b", 3);
                ledger.recordEnded("m-3-" + n, "vm-b", "completed");
            }
            // a ledger written by hand may also hold steps of vm-a after its open one; the open one stays
            for (int n = 0; n < 5; n++) {
                ledger.recordStarted("x-" + n, "vm-a", 3);
                ledger.recordEnded("x-" + n, "vm-a", "completed");
            }
            assertTrue(ledger.get("m-3-1").orElseThrow().open());
            assertEquals(List.of("x-3", "x-4"), List.of("x-0", "x-1", "x-2", "x-3", "x-4").stream()
                    .filter(id -> ledger.get(id).isPresent()).toList(), "besides it, the last two of vm-a");
        }
        try (StepLedger again = StepLedger.open(file)) {
            assertEquals("m-3-1", again.openStepOf("vm-a").orElseThrow().migrationId(),
                    "after a restart the open step is there to be reconciled");
            assertEquals(5, again.size()); // vm-a: the open one and the last two; vm-b: the last two
        }
    }

    @Test
    void aLongLedgerOfAnOlderAgentIsCompactedAtOpenWithTheSameAnswers() throws Exception {
        Path file = dir.resolve("agent.ledger");
        List<String> lines = new ArrayList<>();
        lines.add("epoch 1");
        for (int n = 0; n < 3_000; n++) {
            lines.add("started m-1-" + n + " vm" + (n % 3) + " 1");
            lines.add("ended m-1-" + n + " vm" + (n % 3) + " completed");
        }
        lines.add("epoch 2");
        lines.add("started m-2-0 vm0 2");
        Files.write(file, lines, StandardCharsets.UTF_8);
        try (StepLedger ledger = StepLedger.open(file)) {
            assertEquals(2, ledger.highestEpoch());
            assertEquals(6, ledger.size()); // vm0: m-1-2997 and the open m-2-0 (m-1-2994 forgotten on the start); vm1, vm2: two each
            assertEquals(ledger.linesInFile(), Files.readAllLines(file).size());
            assertEquals(1 + 6 + 5, ledger.linesInFile());
            assertTrue(ledger.get("m-2-0").orElseThrow().open());
            assertEquals("completed", ledger.get("m-1-2999").orElseThrow().outcome());
            assertFalse(ledger.get("m-1-0").isPresent());
            ledger.recordEnded("m-2-0", "vm0", "completed");
        }
        assertFalse(Files.exists(dir.resolve("agent.ledger.compacting")), "no temporary file is left");
        try (StepLedger again = StepLedger.open(file)) {
            assertEquals("completed", again.get("m-2-0").orElseThrow().outcome(), "a line written after compaction is kept");
        }
    }

    @Test
    void aLedgerKeepsAtLeastTheLatestStepOfEachVm() {
        assertThrows(IllegalArgumentException.class, () -> StepLedger.open(dir.resolve("x.ledger"), 0));
    }
}
