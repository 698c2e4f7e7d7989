package dev.livetap.testbed.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The concurrent bench's count of migrations open at the same instant. */
class ConcurrentBenchOverlapTest {
    @Test
    void overlapCountsIntervalsOpenAtTheSameInstant() {
        assertEquals(0, ConcurrentBench.maxOverlap(List.of()));
        assertEquals(1, ConcurrentBench.maxOverlap(List.of(new long[] {0, 1}, new long[] {2, 3})));
        assertEquals(2, ConcurrentBench.maxOverlap(List.of(new long[] {0, 2}, new long[] {2, 3})), "touching ends overlap");
        assertEquals(3, ConcurrentBench.maxOverlap(List.of(new long[] {0, 10}, new long[] {1, 2}, new long[] {1, 9},
                new long[] {3, 4})));
    }
}
