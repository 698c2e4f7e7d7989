package dev.livetap.testbed.demo;

import static dev.livetap.testbed.demo.DemoSummaryTest.held;
import static dev.livetap.testbed.demo.DemoSummaryTest.ping;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.demo.DemoSummary.Migration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Exit 0 iff every freeze of both modes held a probe, backend transfer answered every probe and ping lost nothing with it. */
class DemoVerdictTest {
    private static DemoSummary mode(String mode, List<Migration> ms, List<Integer> pingLost) {
        return new DemoSummary(mode, ms, ping(30, List.of(), pingLost, 0), List.of(), 0);
    }

    private static final List<Migration> BT_OK = List.of(held(1, 10.5, 15.5, 8, 8), held(2, 30.5, 31.5, 8, 8));
    private static final List<Migration> BASE_LOST_PROBES = List.of(held(1, 10.5, 15.5, 8, 0), held(2, 30.5, 31.5, 8, 0));

    @Test
    void passesWhenEveryFreezeHeldProbesAndBackendTransferLostNothingWhateverTheBaselineLost() {
        DemoVerdict v = DemoVerdict.of(mode(DemoSummary.BACKEND_TRANSFER, BT_OK, List.of()),
                mode(DemoSummary.BASELINE, BASE_LOST_PROBES, List.of(6, 7, 16)), true);
        assertTrue(v.ok(), "the baseline's lost probes and ping frames are its result, not a failure: " + v.failures());
        assertEquals(List.of(), v.failures());
    }

    @Test
    void aBaselineFreezeWithoutProbeFails() {
        List<Migration> base = List.of(held(1, 10.5, 15.5, 8, 0), new Migration(2, "a", "b", "completed", 1, 30 * 1_000_000L,
                31 * 1_000_000L, null));
        DemoVerdict v = DemoVerdict.of(mode(DemoSummary.BACKEND_TRANSFER, BT_OK, List.of()), mode(DemoSummary.BASELINE, base, List.of()), true);
        assertFalse(v.ok());
        assertEquals(List.of("baseline: 1 of 2 freezes held no probe (QMP status or the VMMs' stamps did not enclose the writes)"),
                v.failures());
    }

    @Test
    void anUnansweredBackendTransferProbeFails() {
        List<Migration> bt = List.of(held(1, 10.5, 15.5, 8, 8), held(2, 30.5, 31.5, 8, 7));
        DemoVerdict v = DemoVerdict.of(mode(DemoSummary.BACKEND_TRANSFER, bt, List.of()),
                mode(DemoSummary.BASELINE, BASE_LOST_PROBES, List.of()), true);
        assertEquals(List.of("backend transfer: 1 of 16 probes were not answered"), v.failures());
    }

    @Test
    void aLostPingFrameWithBackendTransferFailsEvenWhenEveryProbeWasAnswered() {
        DemoVerdict v = DemoVerdict.of(mode(DemoSummary.BACKEND_TRANSFER, BT_OK, List.of(9)),
                mode(DemoSummary.BASELINE, BASE_LOST_PROBES, List.of()), true);
        assertEquals(List.of("backend transfer: ping lost 1 of 30 frames"), v.failures());
    }

    @Test
    void anIncompleteMigrationOrAChangedIfindexFails() {
        List<Migration> bt = List.of(held(1, 10.5, 15.5, 8, 8), new Migration(2, "a", "b", "failed", -1, 0, 0, "boom"));
        DemoVerdict v = DemoVerdict.of(mode(DemoSummary.BACKEND_TRANSFER, bt, List.of()),
                mode(DemoSummary.BASELINE, BASE_LOST_PROBES, List.of()), false);
        assertFalse(v.ok());
        assertTrue(v.failures().contains("backend transfer: 1 of 2 migrations did not complete"), v.failures().toString());
        assertTrue(v.failures().stream().anyMatch(f -> f.contains("ifindex")), v.failures().toString());
    }
}
