package dev.livetap.fleet.budget;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The adaptive budget's rule on given downtimes: no threads, no clock. */
class DowntimeControllerTest {
    private static DowntimeController controller(int initial, int max, int window) {
        return new DowntimeController(new DowntimeController.Settings(initial, 1, max, 10.0, window, 0.8, 0.5));
    }

    /** K after each of {@code downtimes}. */
    private static List<Integer> ks(DowntimeController c, double... downtimes) {
        List<Integer> ks = new ArrayList<>();
        for (double d : downtimes) {
            c.observe(d);
            ks.add(c.k());
        }
        return ks;
    }

    @Test
    void aDowntimeAboveTheLimitHalvesKAtOnceDownToOne() {
        DowntimeController c = controller(8, 8, 100);
        assertEquals(List.of(8, 4, 2, 1, 1), ks(c, 3, 10.5, 30, 12, 99));
        assertEquals(List.of(8), ks(controller(8, 8, 100), 10.0), "exactly the limit is not above it");
    }

    @Test
    void aFullWindowWhoseP99NearsTheLimitHalvesKAndTheWindowStartsAgain() {
        DowntimeController c = controller(8, 8, 5);
        assertEquals(List.of(8, 8, 8, 8, 4), ks(c, 9, 9, 9, 9, 9), "decided only on a full window (p99 9 > 0.8 x 10)");
        assertEquals(List.of(4, 4, 4, 4, 2), ks(c, 9, 9, 9, 9, 9), "the downtimes of the old K do not judge the new one");
    }

    @Test
    void calmWindowsGrowKOneAtATimeUpToItsMaximum() {
        DowntimeController c = controller(1, 3, 4);
        List<Integer> ks = ks(c, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1);
        assertEquals(List.of(1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3), ks);
    }

    @Test
    void betweenTheTwoThresholdsKHoldsAndTheWindowSlides() {
        DowntimeController c = controller(4, 8, 4);
        assertEquals(List.of(4, 4, 4, 4), ks(c, 6, 6, 6, 6), "p99 6 ms: between 5 and 8 ms");
        assertEquals(List.of(4, 4, 4, 5), ks(c, 1, 1, 1, 1), "the window slid: the fourth calm downtime leaves no 6 in it");
    }

    @Test
    void theP99OfAHundredIgnoresOneOutlierButNotTwo() {
        DowntimeController one = controller(4, 8, 100);
        double[] d = new double[100];
        java.util.Arrays.fill(d, 1.0);
        d[40] = 9.5;
        assertEquals(5, ks(one, d).get(99), "one 9.5 ms in 100: p99 (nearest rank, the 99th) is 1 ms, K grows");
        DowntimeController two = controller(4, 8, 100);
        d[70] = 9.0;
        assertEquals(2, ks(two, d).get(99), "two: p99 9 ms > 8 ms, K halves");
    }

    @Test
    void theSameDowntimesGiveTheSameKsAndKStaysInItsBounds() {
        List<Optional<DowntimeController.Change>> first = new ArrayList<>();
        List<Optional<DowntimeController.Change>> second = new ArrayList<>();
        for (List<Optional<DowntimeController.Change>> run : List.of(first, second)) {
            DowntimeController c = controller(4, 16, 20);
            Random random = new Random(42);
            for (int i = 0; i < 20_000; i++) {
                // a load that comes and goes: calm stretches and crowded ones
                double base = (i / 2_000) % 2 == 0 ? 2.0 : 7.0;
                run.add(c.observe(base + random.nextDouble() * (random.nextInt(50) == 0 ? 12 : 2)));
                assertTrue(c.k() >= 1 && c.k() <= 16, "K " + c.k());
            }
        }
        assertEquals(first, second);
        assertTrue(first.stream().filter(Optional::isPresent).count() > 10, "the rule did steer");
    }

    @Test
    void settingsOutsideTheRuleAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DowntimeController.Settings(0, 1, 4, 10, 10, 0.8, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new DowntimeController.Settings(2, 1, 4, 10, 0, 0.8, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new DowntimeController.Settings(2, 1, 4, 10, 10, 0.5, 0.8));
        assertThrows(IllegalArgumentException.class, () -> new DowntimeController.Settings(2, 1, 4, 10, 10, 1.5, 0.5));
        assertThrows(IllegalArgumentException.class, () -> controller(2, 4, 10).observe(-1));
    }
}
