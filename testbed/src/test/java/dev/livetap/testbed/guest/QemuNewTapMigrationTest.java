package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.bench.FunctionalBench;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed's functional test on real QEMU through the one driver ({@code LocalMigration}, method
 * {@code new-tap}, as {@code livetap bench functional} runs it): the Linux guest answers on TAP
 * {@code lt0}; a target QEMU started with {@code -S -incoming defer} on {@code lt1}; once the source
 * reports {@code completed} the host's address and MAC move to the new TAP and {@code cont} resumes
 * the target, while {@code ping -D -O -i 0.001} runs from the namespace. Twice, so the second
 * migration goes back to {@code lt0}. Asserts the seed's rule: no reply lost outside the freeze
 * (source STOP to target RESUME, QMP event timestamps) ± 10 ms, and the guest answers after it.
 */
class QemuNewTapMigrationTest {
    private static final int MIGRATIONS = 2;

    @Test
    @Timeout(300)
    void aGuestMigratesToAQemuOnANewTapAndLosesRepliesOnlyInsideTheFreeze(@TempDir Path dir) throws Exception {
        RealGuest.imageOrSkip();
        FunctionalBench.Options o = new FunctionalBench.Options(MIGRATIONS, 1.0, Duration.ofMillis(800),
                List.of(FunctionalBench.RowKind.QEMU_NEW_TAP), line -> System.out.println("QemuNewTapMigrationTest: " + line));
        FunctionalBench.Row row = FunctionalBench.qemuNewTap(o, dir);
        assertNull(row.skipped(), () -> "the row runs: " + row.skipped());
        assertNull(row.failure(), () -> "the row runs to its end: " + row.failure());
        assertEquals(MIGRATIONS, row.completed(), () -> "every migration completes, switch and cont included: " + row.samples());
        for (FunctionalBench.Sample s : row.samples()) {
            assertEquals(0, s.lostOutsideFreeze(), () -> "the seed's rule: replies are lost only inside the freeze "
                    + "(source STOP to target RESUME, +-10 ms); migration " + s.index() + " lost at ms from STOP: " + s.lostAtMsFromStop()
                    + ", freeze " + s.stopToResumeMs() + " ms");
            assertTrue(s.answeredAfterResume() > 0, () -> "the guest answers on the new TAP after cont: " + s);
            assertTrue(s.answeringAgain(), () -> "the guest answers in real time again after the migration: " + s);
            assertTrue(s.stopToResumeMs() > 0, () -> "the freeze is measured from the events: " + s);
            assertTrue(s.vmmDowntimeMs() >= 0 && s.totalMs() > 0, () -> "QEMU's own figures are reported: " + s);
            assertTrue(s.sent() > 500, () -> "ping ran through the migration at 1 ms: " + s);
        }
    }
}
