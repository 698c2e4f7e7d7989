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
}
