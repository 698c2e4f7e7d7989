package dev.livetap.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReportTest {
    @Test
    void nearestRankPercentiles() {
        Percentiles p = Percentiles.of(List.of(5, 1, 4, 2, 3, 10, 9, 8, 7, 6));
        assertEquals(5, p.p50(), "p50 of 1..10 by nearest rank is 5");
        assertEquals(10, p.p99(), "p99 of ten samples is the largest");
        assertEquals(1, p.min());
        assertTrue(Double.isNaN(Percentiles.of().p50()), "no samples, no percentile");
        assertThrows(IllegalArgumentException.class, () -> p.percentile(0));
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
