package dev.livetap.testbed.demo;

import dev.livetap.testbed.Ping;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.livetap.testbed.demo.DemoSummary.Migration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DemoSummaryTest {
    /** wall - monotonic: wall second 1000 is monotonic 0. */
    static final long OFFSET = 1000L * 1_000_000_000L;
    static final long MS = 1_000_000L;

    /**
     * ping every 2 ms from monotonic 0: seq 1 at 0 ms, seq 2 at 2 ms, ... Requests sent inside
     * {@code frozen} windows (ms) are answered when the window ends (+0.1 ms); {@code lost} seqs are never answered.
     */
    static Ping ping(int count, List<double[]> frozen, List<Integer> lost, int trailingCut) {
        List<String> lines = new ArrayList<>();
        int received = 0;
        for (int seq = 1; seq <= count; seq++) {
            double sentMs = (seq - 1) * 2.0;
            if (lost.contains(seq) || seq > count - trailingCut) {
                continue;
            }
            double rtt = 0.1;
            for (double[] w : frozen) {
                if (sentMs >= w[0] && sentMs <= w[1]) {
                    rtt = w[1] - sentMs + 0.1;
                }
            }
            double replyS = 1000 + (sentMs + rtt) / 1000.0;
            lines.add(String.format(java.util.Locale.ROOT, "[%.6f] 64 bytes from 10.0.1.2: icmp_seq=%d ttl=64 time=%.3f ms",
                    replyS, seq, rtt));
            received++;
        }
        lines.add(count + " packets transmitted, " + received + " received, 0% packet loss, time 20ms");
        return Ping.parse(lines, OFFSET, 2 * MS);
    }

    static Migration migration(int k, double fromMs, double toMs) {
        return new Migration(k, "vm" + (k - 1), "vm" + k, "completed", toMs - fromMs, Math.round(fromMs * MS),
                Math.round(toMs * MS), null);
    }

    /** A held migration: QMP said pre-switchover around K probes written 0.2-0.4 ms after the stop; let go at 0.5 ms. */
    static Migration held(int k, double fromMs, double toMs, int probes, int answered) {
        HeldFreeze h = new HeldFreeze(HeldFreeze.PRE_SWITCHOVER, HeldFreeze.PRE_SWITCHOVER, probes, Math.round((fromMs + 0.2) * MS),
                Math.round((fromMs + 0.4) * MS), Math.round((fromMs + 0.5) * MS), answered);
        return new Migration(k, "vm" + (k - 1), "vm" + k, "completed", toMs - fromMs - 0.5, Math.round(fromMs * MS),
                Math.round(toMs * MS), null, h);
    }

    @Test
    void pingRequestsAreCountedPerFreezeWindowAndReportedButDoNotDecide() {
        // freezes [10.5, 15.5] ms (requests at 12 and 14 ms inside) and [30.5, 31.5] ms (none: 30 and 32 outside)
        List<double[]> frozen = List.of(new double[] {10.5, 15.5}, new double[] {30.5, 31.5});
        Ping log = ping(30, frozen, List.of(), 0);
        DemoSummary s = new DemoSummary(DemoSummary.BACKEND_TRANSFER,
                List.of(migration(1, 10.5, 15.5), migration(2, 30.5, 31.5)), log, List.of(), 0);
        assertEquals(List.of(2, 0), s.requestsInFreezePerMigration(), "requests sent inside each [source stop, target start]");
        assertEquals(2, s.requestsInFreeze());
        assertEquals(1, s.migrationsWithoutRequestInFreeze());
        assertFalse(s.provesSomething(), "no hold, no probe: nothing proven, whatever ping caught");

        DemoSummary ok = new DemoSummary(DemoSummary.BACKEND_TRANSFER,
                List.of(held(1, 10.5, 15.5, 8, 8), held(2, 30.5, 31.5, 8, 8)), log, List.of(), 0);
        assertEquals(1, ok.migrationsWithoutRequestInFreeze(), "ping caught nothing in the second freeze ...");
        assertTrue(ok.provesSomething(), "... but its probes were held in it: the freeze proves something");
        assertEquals(0, ok.framesLost());
        assertEquals(30, ok.framesSent());
        assertEquals(3.6 - 0.1, ok.extraDelayMaxMs(), 1e-6, "worst extra delay = max RTT (request at 12 ms, answered at 15.6) - median RTT");
    }

    @Test
    void aMigrationWithoutStampsOrNotCompletedProvesNothing() {
        Ping log = ping(10, List.of(), List.of(), 0);
        Migration unknown = new Migration(1, "a", "b", "completed", -1, 5 * MS, 0, null);
        DemoSummary s = new DemoSummary(DemoSummary.BACKEND_TRANSFER, List.of(unknown), log, List.of(), 0);
        assertEquals(List.of(0), s.requestsInFreezePerMigration());
        assertFalse(s.provesSomething());
        Migration failed = new Migration(1, "a", "b", "failed", -1, 0, 0, "boom");
        assertFalse(new DemoSummary(DemoSummary.BASELINE, List.of(failed), log, List.of(), 0).provesSomething());
        Migration heldNoStart = new Migration(1, "a", "b", "completed", -1, 5 * MS, 0, null, held(1, 5, 9, 8, 8).hold());
        assertEquals(1, new DemoSummary(DemoSummary.BACKEND_TRANSFER, List.of(heldNoStart), log, List.of(), 0).freezesWithoutProbe(),
                "without the target's start stamp the writes cannot be shown inside the freeze");
    }

    @Test
    void lostRequestsCountButRequestsCutOffByStoppingPingDoNot() {
        Ping log = ping(20, List.of(), List.of(7, 8), 2);
        long stop = 40 * MS;
        int cut = log.cutOffAfter(stop - 5 * MS);
        assertEquals(2, cut, "the two requests in flight when ping was stopped");
        assertEquals(0, log.cutOffAfter(stop + MS), "nothing sent after the given time: nothing cut off");
        DemoSummary s = new DemoSummary(DemoSummary.BASELINE, List.of(migration(1, 11, 16)), log, List.of(3.0), cut);
        assertEquals(18, s.framesSent());
        assertEquals(2, s.framesLost(), "seq 7 and 8 were lost inside the run");
        assertEquals(2, s.cutOffAtStop());
    }

    @Test
    void tableAndJsonCarryTheFiguresOfBothModes() throws Exception {
        List<double[]> frozen = List.of(new double[] {10.5, 15.5}, new double[] {29.5, 31.5});
        Ping log = ping(30, frozen, List.of(), 0);
        // held(...) downtimes: 5.5 - 0.5 = 5 and 2.5 - 0.5 = 2 ms
        List<Migration> ms = List.of(held(1, 10.5, 16.0, 8, 8), held(2, 29.5, 32.0, 8, 8));
        DemoSummary bt = new DemoSummary(DemoSummary.BACKEND_TRANSFER, ms, log, List.of(), 0);
        DemoSummary base = new DemoSummary(DemoSummary.BASELINE, ms, ping(30, List.of(), List.of(6, 7, 16), 0),
                List.of(4.0, 6.0), 0);
        String table = DemoSummary.table(List.of(bt, base));
        assertTrue(table.contains("backend transfer") && table.contains("baseline"), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("downtime p50 (ms)") && l.contains("2") && l.contains("5")), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("lost") && l.matches("lost\\s+0\\s+3")), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("network switch p50 (ms)") && l.endsWith("4")), table);

        JsonNode j = new ObjectMapper().readTree(bt.toJson().toString());
        assertEquals(2, j.path("migrations").asInt());
        assertEquals(2.0, j.path("downtime_ms").path("p50").asDouble(), 1e-9, "p50 of {5, 2} (HdrHistogram)");
        assertEquals(5.0, j.path("downtime_ms").path("p99").asDouble(), 1e-9);
        assertEquals(30, j.path("frames_sent").asInt());
        assertEquals(0, j.path("frames_lost").asInt());
        assertEquals(3.6, j.path("rtt_ms_max").asDouble(), 1e-6);
        assertEquals(5, j.path("requests_in_freeze").asInt(), "12, 14, 16 and 30, 32 ms");
        assertTrue(j.path("proves_something").asBoolean());
        assertEquals(2, j.path("runs").size());
        assertEquals(16, j.path("probes_sent").asInt());
        assertEquals(16, j.path("probes_answered").asInt());
        assertEquals(0, j.path("freezes_without_probe").asInt());
        assertEquals(0.5, j.path("held_freeze_ms").path("p50").asDouble(), 1e-9, "stop to release: 0.5 ms in both");
        assertEquals(0.5, j.path("held_freeze_ms").path("p99").asDouble(), 1e-9);
        assertEquals(8, j.path("runs").get(0).path("probes_in_freeze").asInt());
        assertTrue(table.lines().anyMatch(l -> l.matches("freezes without a probe\\s+0\\s+0")), table);
        JsonNode b = new ObjectMapper().readTree(base.toJson().toString());
        assertEquals(3, b.path("frames_lost").asInt());
        assertEquals(4.0, b.path("network_switch_ms").path("p50").asDouble(), 1e-9);
        JsonNode none = new ObjectMapper().readTree(new DemoSummary(DemoSummary.BACKEND_TRANSFER, ms, null, List.of(), 0)
                .toJson().toString());
        assertTrue(none.path("frames_sent").isNull(), "no ping: frame counts are null, never 0");
    }
}
