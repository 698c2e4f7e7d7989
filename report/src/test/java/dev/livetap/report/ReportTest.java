package dev.livetap.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReportTest {
    @Test
    void percentilesThroughHdrHistogram() {
        Percentiles p = Percentiles.of(List.of(5, 1, 4, 2, 3, 10, 9, 8, 7, 6));
        assertEquals(10, p.count());
        assertEquals(5, p.p50(), "p50 of 1..10 ms is 5 ms (exact to the microsecond below 32.768 ms)");
        assertEquals(10, p.p99(), "p99 of ten samples is the largest");
        assertEquals(1, p.min());
        assertEquals(12.345, Percentiles.of(12.345).p50(), "whole microseconds below 32.768 ms are exact");
        assertEquals(1000.0, Percentiles.of(1000.0).p50(), 0.1, "within 0.01 % above");
        assertTrue(Double.isNaN(Percentiles.of().p50()), "no samples, no percentile");
        assertThrows(IllegalArgumentException.class, () -> p.percentile(0));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(-1.0), "a latency is never negative");
    }

    @Test
    void p99OfManySamplesIsNotTheMaximum() {
        double[] samples = new double[1000];
        for (int i = 0; i < samples.length; i++) {
            samples[i] = i < 985 ? 1.0 : 100.0; // 1.5 % outliers
        }
        samples[999] = 500.0;
        Percentiles p = Percentiles.of(samples);
        assertEquals(1.0, p.p50());
        assertEquals(1.0, p.percentile(98), "the 980th of 1000 samples");
        assertEquals(100.0, p.p99(), 0.01, "the 990th of 1000 samples");
        assertEquals(500.0, p.max(), 0.05);
    }

    @Test
    void tableAlignsColumns() {
        String t = new Table("mode", "p50 ms").row("backend_transfer", 1.5).row("baseline", 120.0).toString();
        assertEquals("""
                mode              p50 ms
                ----------------  ------
                backend_transfer   1.500
                baseline             120
                """, t);
        assertThrows(IllegalArgumentException.class, () -> new Table("a").row(1, 2), "a row must fit the header");
    }
}
