package dev.livetap.testbed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PingTest {
    private static final List<String> OUTPUT = List.of(
            "PING 10.0.1.2 (10.0.1.2) 56(84) bytes of data.",
            "[1000.000100] 64 bytes from 10.0.1.2: icmp_seq=1 ttl=64 time=0.100 ms",
            "[1000.005100] 64 bytes from 10.0.1.2: icmp_seq=2 ttl=64 time=0.100 ms",
            "[1000.020000] 64 bytes from 10.0.1.2: icmp_seq=3 ttl=64 time=10.000 ms",
            "[1000.020000] 64 bytes from 10.0.1.2: icmp_seq=3 ttl=64 time=10.000 ms (DUP!)",
            "[1000.020100] 64 bytes from 10.0.1.2: icmp_seq=5 ttl=64 time=0.100 ms",
            "",
            "--- 10.0.1.2 ping statistics ---",
            "5 packets transmitted, 4 received, 20% packet loss, time 20ms",
            "rtt min/avg/max/mdev = 0.100/2.575/10.000/4.200 ms");

    @Test
    void requestsGetSendTimesInMonotonicNanosAndTheLostOneIsPlacedOnTheSchedule() {
        long offset = 1000L * 1_000_000_000L - 5_000L; // wall - monotonic
        Ping log = Ping.parse(OUTPUT, offset, 5_000_000L);
        assertEquals(5, log.transmitted(), "ping's own transmitted count");
        assertEquals(4, log.received(), "ping's own received count (duplicates are not new replies)");
        assertEquals(1, log.lost());
        assertEquals(5, log.requests().size(), "one entry per transmitted request");
        assertEquals(5_000L, log.requests().get(0).sentNanos(), "send time = reply time - rtt - offset");
        assertEquals(10_005_000L, log.requests().get(2).sentNanos(), "a delayed reply still dates its request to when it was sent");
        Ping.Request lost = log.requests().get(3);
        assertFalse(lost.answered(), "seq 4 was never answered");
        assertEquals(15_005_000L, lost.sentNanos(), "an unanswered request is placed evenly between its answered neighbours");
        assertEquals(10.0, log.rttMaxMs(), 1e-9);
        assertEquals(0.1, log.rttMedianMs(), 1e-9);
    }

    @Test
    void requestsInsideFreezeWindowsAreCounted() {
        Ping log = Ping.parse(OUTPUT, 1000L * 1_000_000_000L - 5_000L, 5_000_000L);
        assertEquals(2, log.requestsInside(List.of(new long[] {9_000_000L, 16_000_000L})),
                "seq 3 (delayed) and seq 4 (lost) fall inside the freeze");
        assertEquals(0, log.requestsInside(List.of()), "no windows, nothing inside");
    }

    /** At -i 0.001 icmp_seq (16 bits) wraps after 65.5 s: 65535, then 0, 1, … continue the run. */
    @Test
    void sequenceNumbersThatWrapAroundKeepTheirOrder() {
        List<String> lines = new java.util.ArrayList<>();
        long t = 1000L * 1_000_000L; // µs
        int transmitted = 65_536 + 3;
        for (int seq = 1; seq <= transmitted; seq++) {
            if (seq == 65_535) {
                continue; // lost, just before the wrap
            }
            t += 1_000;
            int printed = seq % 65_536;
            lines.add(String.format("[%d.%06d] 64 bytes from 10.0.1.2: icmp_seq=%d ttl=64 time=0.100 ms", t / 1_000_000,
                    t % 1_000_000, printed));
        }
        lines.add(transmitted + " packets transmitted, " + (transmitted - 1) + " received, 0% packet loss, time 65538ms");
        Ping log = Ping.parse(lines, 0, 1_000_000L);
        assertEquals(transmitted, log.requests().size());
        List<Ping.Request> r = log.requests();
        for (int i = 1; i < r.size(); i++) {
            assertTrue(r.get(i).sentNanos() > r.get(i - 1).sentNanos(), "send times grow across the wrap, at seq " + (i + 1));
        }
        assertFalse(r.get(65_534).answered(), "seq 65535 is the lost one");
        assertTrue(r.get(0).answered() && r.get(65_535).answered() && r.get(transmitted - 1).answered(),
                "seq 1 keeps its own reply; seq 65536 (printed 0) and the last are answered");
        assertEquals(1, log.requestsInside(List.<long[]>of(new long[] {r.get(0).sentNanos(), r.get(0).sentNanos()})),
                "the first request is where it was sent, not replaced by the one printed with the same number later");
    }

    @Test
    void outputWithoutStatisticsIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Ping.parse(List.of("PING x"), 0, 1),
                "a ping that was killed before its summary cannot be judged");
    }
}
