package dev.livetap.fleet.budget;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FreezeBudgetTest {
    private static final Duration SHORT = Duration.ofMillis(50);
    private static final Duration LONG = Duration.ofSeconds(10);

    @Test
    void aFixedBudgetGrantsExactlyKAndTheNextWaitsUntilOneIsReleased() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.fixed(3));
        List<FreezeBudget.Permit> held = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            held.add(b.acquire(SHORT));
        }
        assertThrows(TimeoutException.class, () -> b.acquire(SHORT), "a fourth switch-over must not enter a window of 3");
        b.release(held.remove(0), 1.0);
        held.add(b.acquire(SHORT));
        assertEquals(3, b.inUse());
        assertEquals(3, b.maxInUse());
        held.forEach(p -> b.release(p, 1.0));
        assertEquals(0, b.inUse());
        assertEquals(3, b.limit(), "a fixed budget never adapts");
    }

    @Test
    void manyThreadsNeverHoldMoreThanK() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.fixed(4));
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<?>> all = new ArrayList<>();
            for (int i = 0; i < 400; i++) {
                all.add(pool.submit(() -> {
                    FreezeBudget.Permit p = b.acquire(LONG);
                    int now = inside.incrementAndGet();
                    most.accumulateAndGet(now, Math::max);
                    Thread.onSpinWait();
                    inside.decrementAndGet();
                    b.release(p, 1.0);
                    return null;
                }));
            }
            for (Future<?> f : all) {
                f.get(20, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(most.get() <= 4, "at most K holders at once, saw " + most.get());
        assertTrue(b.maxInUse() <= 4);
        assertEquals(0, b.inUse());
    }

    @Test
    void waitersAreServedInArrivalOrder() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.fixed(1));
        FreezeBudget.Permit first = b.acquire(SHORT);
        List<Integer> order = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> all = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                int me = i;
                CountDownLatch queued = new CountDownLatch(1);
                all.add(pool.submit(() -> {
                    queued.countDown();
                    FreezeBudget.Permit p = b.acquire(LONG);
                    order.add(me);
                    b.release(p, 1.0);
                    return null;
                }));
                queued.await();
                Thread.sleep(50); // the waiter is parked in acquire before the next one arrives
            }
            b.release(first, 1.0);
            for (Future<?> f : all) {
                f.get(10, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(0, 1, 2), order, "first come, first served");
    }

    @Test
    void anAdaptiveBudgetHalvesOnADowntimeAboveTheLimitOrAWindowNearItAndGrowsBackOneAtATime() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.adaptive(8, 8, 10.0, 4));
        List<FreezeBudget.Permit> crowd = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            crowd.add(b.acquire(SHORT));
        }
        b.release(crowd.remove(0), 11.0); // above the 10 ms limit
        assertEquals(4, b.limit(), "a downtime above the limit halves K at once");
        for (FreezeBudget.Permit p : crowd) {
            b.release(p, 50.0); // granted under the old K: they describe the old crowd
        }
        assertEquals(4, b.limit(), "releases of permits granted before the decrease must not shrink K again");
        for (int i = 0; i < 3; i++) {
            b.release(b.acquire(SHORT), 1.0);
        }
        assertEquals(4, b.limit(), "K grows only on a full window of calm downtimes");
        b.release(b.acquire(SHORT), 1.0);
        assertEquals(5, b.limit());
        b.release(b.acquire(SHORT), -1); // unknown (failed): does not steer
        for (int i = 0; i < 3; i++) {
            b.release(b.acquire(SHORT), 9.0); // above 0.8 x the limit, not above it
        }
        assertEquals(5, b.limit(), "the window is not full yet");
        b.release(b.acquire(SHORT), 6.0);
        assertEquals(2, b.limit(), "a window p99 near the limit halves K");
        assertEquals(List.of(new FreezeBudget.Adjustment(1, 8, 4, 11.0), new FreezeBudget.Adjustment(12, 4, 5, 1.0),
                new FreezeBudget.Adjustment(17, 5, 2, 9.0)), b.adjustments());
        assertEquals(3, b.adjustmentCount());
    }

    @Test
    void anAdaptiveBudgetNeverGoesBelowItsMinimum() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.adaptive(2, 8, 10.0));
        for (int i = 0; i < 5; i++) {
            b.release(b.acquire(SHORT), 100.0);
        }
        assertEquals(1, b.limit());
        b.release(b.acquire(SHORT), 100.0);
        assertEquals(1, b.limit());
    }

    @Test
    void theListOfChangesIsBoundedAndTheirCountIsNot() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.adaptive(1, 8, 10.0, 4));
        for (int i = 0; i < 3 * FreezeBudget.ADJUSTMENTS_KEPT; i++) { // 4 calm ones grow K, one above the limit halves it
            b.release(b.acquire(SHORT), i % 5 == 4 ? 100.0 : 1.0);
        }
        assertEquals(FreezeBudget.ADJUSTMENTS_KEPT, b.adjustments().size(), "the list of changes is bounded");
        assertTrue(b.adjustmentCount() > FreezeBudget.ADJUSTMENTS_KEPT, "the count is not: " + b.adjustmentCount());
    }

    @Test
    void aPermitReleasedTwiceIsAnErrorAndATimedOutWaiterLeavesNoTrace() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.fixed(1));
        FreezeBudget.Permit p = b.acquire(SHORT);
        assertThrows(TimeoutException.class, () -> b.acquire(SHORT));
        b.release(p, 1.0);
        assertThrows(IllegalStateException.class, () -> b.release(p, 1.0));
        assertEquals(0, b.inUse(), "a double release must not free a second place");
        b.release(b.acquire(SHORT), 1.0); // the timed-out waiter's ticket is gone: the queue is not blocked
        assertThrows(IllegalArgumentException.class, () -> FreezeBudget.Settings.adaptive(0, 4, 10));
        assertThrows(IllegalArgumentException.class, () -> FreezeBudget.Settings.adaptive(2, 4, 0));
    }
    @Test
    void theLookAheadBoundsTheRunsAtKPlusLAndAPlaceGoesBackOnce() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.fixed(2).withLookAhead(FreezeBudget.LookAhead.AUTO));
        assertEquals(4, b.runBound(), "auto: L = K, 2K in all");
        List<FreezeBudget.RunPlace> places = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            places.add(b.enterRun(SHORT));
        }
        TimeoutException refused = assertThrows(TimeoutException.class, () -> b.enterRun(SHORT));
        assertTrue(refused.getMessage().contains("4 of 4"), refused.getMessage());
        b.leaveRun(places.get(0));
        assertThrows(IllegalStateException.class, () -> b.leaveRun(places.get(0)));
        assertEquals(3, b.inRun(), "a place given back twice frees one place only");
        places.set(0, b.enterRun(SHORT)); // the timed-out waiter's ticket is gone: the queue is not blocked
        assertEquals(4, b.maxInRun());
        places.forEach(b::leaveRun);
        assertEquals(0, b.inRun());

        FreezeBudget fixed = new FreezeBudget(FreezeBudget.Settings.fixed(3).withLookAhead(FreezeBudget.LookAhead.fixed(1)));
        assertEquals(4, fixed.runBound());
        FreezeBudget none = new FreezeBudget(FreezeBudget.Settings.fixed(1));
        assertEquals(Integer.MAX_VALUE, none.runBound(), "no look-ahead: runs are not bounded (the way before it)");
        for (int i = 0; i < 100; i++) {
            none.enterRun(SHORT);
        }
        assertEquals(100, none.maxInRun(), "counted all the same");
        assertEquals("2", FreezeBudget.LookAhead.parse("2").label());
        assertEquals(FreezeBudget.LookAhead.AUTO, FreezeBudget.LookAhead.parse("auto"));
        assertEquals(FreezeBudget.LookAhead.NONE, FreezeBudget.LookAhead.parse("none"));
        assertThrows(IllegalArgumentException.class, () -> FreezeBudget.LookAhead.parse("-1"));
        assertThrows(IllegalArgumentException.class, () -> FreezeBudget.LookAhead.parse("some"));
    }

    @Test
    void theLookAheadFollowsAnAdaptiveKAndAGrowingKLetsAWaiterIn() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.adaptive(2, 8, 10.0, 4).withLookAhead(FreezeBudget.LookAhead.AUTO));
        List<FreezeBudget.RunPlace> places = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            places.add(b.enterRun(SHORT));
        }
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<FreezeBudget.RunPlace> waiter = pool.submit(() -> b.enterRun(LONG));
            for (int i = 0; i < 4; i++) { // a full window of calm downtimes: K 2 -> 3, the bound 4 -> 6
                b.release(b.acquire(SHORT), 1.0);
            }
            assertEquals(3, b.limit());
            assertEquals(6, b.runBound());
            places.add(waiter.get(LONG.toSeconds(), TimeUnit.SECONDS)); // woken by the change, not by a place given back
            assertEquals(5, b.inRun());
        } finally {
            pool.shutdownNow();
        }
        b.release(b.acquire(SHORT), 11.0); // above the limit: K 3 -> 1
        assertEquals(1, b.limit());
        assertEquals(2, b.runBound(), "the bound shrinks with K");
        assertThrows(TimeoutException.class, () -> b.enterRun(SHORT), "5 in their run, 2 allowed: no new one starts");
        for (int i = 0; i < 4; i++) {
            b.leaveRun(places.remove(0));
        }
        FreezeBudget.RunPlace next = b.enterRun(SHORT); // 1 left in its run: one place free again
        assertEquals(2, b.inRun());
        b.leaveRun(next);
        b.leaveRun(places.remove(0));
        assertEquals(0, b.inRun());
    }

    @Test
    void manyThreadsNeverHaveMoreThanKPlusLInTheirRunAtOnce() throws Exception {
        FreezeBudget b = new FreezeBudget(FreezeBudget.Settings.fixed(2).withLookAhead(FreezeBudget.LookAhead.fixed(1)));
        AtomicInteger running = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(12);
        try {
            List<Future<?>> all = new ArrayList<>();
            for (int t = 0; t < 12; t++) {
                all.add(pool.submit(() -> {
                    for (int i = 0; i < 40; i++) {
                        FreezeBudget.RunPlace place = b.enterRun(LONG);
                        try {
                            most.accumulateAndGet(running.incrementAndGet(), Math::max);
                            FreezeBudget.Permit p = b.acquire(LONG); // the switch-over inside the run, as the driver's gate
                            b.release(p, 1.0);
                            running.decrementAndGet();
                        } finally {
                            b.leaveRun(place);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : all) {
                f.get(LONG.toSeconds(), TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(most.get() <= 3, "K + L = 3 at most in their run: " + most.get());
        assertTrue(b.maxInRun() >= 1 && b.maxInRun() <= 3, "the budget's own count agrees: " + b.maxInRun());
        assertEquals(0, b.inRun());
        assertEquals(0, b.inUse());
    }
}
