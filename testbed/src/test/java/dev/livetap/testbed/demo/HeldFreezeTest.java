package dev.livetap.testbed.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.livetap.testbed.demo.DemoSummary.Migration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A probe counts for a freeze only if QMP said {@code pre-switchover} just before and just after
 * the writes and the writes lie inside the freeze the VMMs stamped themselves
 * (x-source-stopped-ns .. x-target-started-ns): a probe written outside the hold must not count.
 */
class HeldFreezeTest {
    private static HeldFreeze.Status statuses(String... seen) {
        Deque<String> q = new ArrayDeque<>(List.of(seen));
        return q::removeFirst;
    }

    @Test
    void probesWrittenWhileQmpSaysPreSwitchoverInsideTheStampsCount() throws Exception {
        long stopped = System.nanoTime();
        HeldFreeze h = HeldFreeze.hold(statuses("pre-switchover", "pre-switchover"), () -> 8);
        long started = System.nanoTime() + 1_000_000;
        assertEquals(8, h.held(stopped, started), "8 probes between two pre-switchover answers, inside the stamps");
        assertEquals(8, new Migration(1, "a", "b", "completed", 1, stopped, started, null, h).probesHeld());
        assertEquals(1, new DemoSummary(DemoSummary.BACKEND_TRANSFER,
                List.of(new Migration(1, "a", "b", "completed", 1, stopped, started, null, h)), null, List.of(), 0)
                .probesSent() / 8);
    }

    @Test
    void aSourceNotInPreSwitchoverGetsNoProbeWrittenAndTheFreezeHoldsNone() throws Exception {
        AtomicInteger writes = new AtomicInteger();
        HeldFreeze h = HeldFreeze.hold(statuses("device"), () -> writes.addAndGet(8));
        assertEquals(0, writes.get(), "no probe is written unless QMP says pre-switchover first");
        assertEquals(0, h.held(1, Long.MAX_VALUE));
        Migration m = new Migration(1, "a", "b", "completed", 1, 1, Long.MAX_VALUE, null, h);
        assertEquals(1, new DemoSummary(DemoSummary.BASELINE, List.of(m), null, List.of(), 0).freezesWithoutProbe());
    }

    @Test
    void probesWrittenWhileTheSourceLeftPreSwitchoverDoNotCount() throws Exception {
        long stopped = System.nanoTime();
        HeldFreeze h = HeldFreeze.hold(statuses("pre-switchover", "device"), () -> 8);
        assertEquals(8, h.probesWritten(), "written (and reported as sent) ...");
        assertEquals(0, h.held(stopped, System.nanoTime() + 1_000_000), "... but not held: the status changed around the writes");
    }

    @Test
    void probesWrittenOutsideTheVmmsOwnFreezeStampsDoNotCount() {
        String pre = HeldFreeze.PRE_SWITCHOVER;
        // writes at [100, 200] ns; QMP said pre-switchover around them, but the stamps disagree
        HeldFreeze h = new HeldFreeze(pre, pre, 8, 100, 200, 250, 8);
        assertEquals(8, h.held(50, 300), "inside [stop 50, start 300]");
        assertEquals(0, h.held(150, 300), "the source stopped after the writes began: the first probes went in before the freeze");
        assertEquals(0, h.held(50, 180), "the target started before the writes ended");
        assertEquals(0, h.held(0, 300), "no source stamp: nothing provable");
        assertEquals(0, h.held(50, 0), "no target stamp: nothing provable");
        assertEquals(0.2e-3, h.heldMs(50), 1e-12, "held part: stop 50 ns to release 250 ns");
    }
}
