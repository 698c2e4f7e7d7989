package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.testbed.ChildProcess;
import dev.livetap.testbed.NetworkNamespace;
import dev.livetap.testbed.Ping;
import dev.livetap.testbed.qemu.QemuProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The new-tap baseline done by hand with plain QMP, QEMU to QEMU: the target QEMU starts with
 * {@code -S -incoming defer} on a new TAP; once the source reports {@code completed}, the host's
 * address and MAC move to the new TAP and {@code cont} resumes the target, while {@code ping -D -O}
 * runs at 1 ms. Prints the frames lost, where they fall relative to the freeze (source STOP to target
 * RESUME, from the QMP event timestamps, which share the host clock; a request counts as lost when
 * no reply ever came), the largest reply gap, QEMU's
 * own downtime and total time.
 */
class QemuNewTapMigrationTest {
    private static final String OLD_TAP = "lt0";
    private static final String NEW_TAP = "lt1";
    private static final double INTERVAL_S = 0.001;
    private static final int PING_SECONDS = 8;

    @Test
    @Timeout(300)
    void aGuestMigratesToAQemuOnANewTapAndAnswersAgainAfterTheSwitch(@TempDir Path dir) throws Exception {
        GuestImage image = RealGuest.imageOrSkip();
        try (NetworkNamespace ns = NetworkNamespace.create()) {
            ns.addMultiqueueTap(OLD_TAP, RealGuest.HOST_CIDR);
            ns.run("ip", "tuntap", "add", "dev", NEW_TAP, "mode", "tap", "multi_queue", "vnet_hdr");
            QemuProcess.Guest onOld = QemuProcess.Guest.of(image, 2, new QemuProcess.TapByName(OLD_TAP));
            QemuProcess.Guest onNew = QemuProcess.Guest.of(image, 2, new QemuProcess.TapByName(NEW_TAP));
            Path channel = dir.resolve("migration.sock");
            try (QemuProcess source = QemuProcess.startGuest(dir, "source", onOld, ns, false, false);
                    QemuProcess target = QemuProcess.startGuest(dir, "target", onNew, ns, true, true)) {
                assertTrue(source.awaitQmpSocket(Duration.ofSeconds(30)), () -> source.process().describe());
                assertTrue(target.awaitQmpSocket(Duration.ofSeconds(30)), () -> target.process().describe());
                try (QmpClient src = QmpClient.connect(source.qmpSocket(), Duration.ofSeconds(60));
                        QmpClient tgt = QmpClient.connect(target.qmpSocket(), Duration.ofSeconds(60))) {
                    src.negotiate();
                    tgt.negotiate();
                    src.execute("migrate-set-capabilities", QemuProcess.migrationEventsOn());
                    tgt.execute("migrate-set-capabilities", QemuProcess.migrationEventsOn());
                    assertTrue(ns.awaitReply(GuestImage.GUEST_ADDRESS, RealGuestTest.READY),
                            () -> "the source guest never answered\n" + source.console());
                    try (ChildProcess ping = ChildProcess.start(ns.wrap(List.of("ping", "-n", "-D", "-O",
                            "-i", String.valueOf(INTERVAL_S), "-W", "1", "-w", String.valueOf(PING_SECONDS),
                            GuestImage.GUEST_ADDRESS)), dir, "ping")) {
                        Thread.sleep(1500);
                        tgt.execute("migrate-incoming", JsonNodeFactory.instance.objectNode().put("uri", "unix:" + channel));
                        long migrateAt = System.nanoTime();
                        src.execute("migrate", JsonNodeFactory.instance.objectNode().put("uri", "unix:" + channel));
                        double stop = Double.NaN;
                        String status = "";
                        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                        while (!status.equals("completed") && !status.equals("failed") && System.nanoTime() - deadline < 0) {
                            Optional<JsonNode> e = src.pollEvent(Duration.ofSeconds(1));
                            if (e.isEmpty()) {
                                continue;
                            }
                            String name = e.get().path("event").asText();
                            if (name.equals("STOP")) {
                                stop = seconds(e.get());
                            } else if (name.equals("MIGRATION")) {
                                status = e.get().path("data").path("status").asText();
                            }
                        }
                        double completedAt = (System.nanoTime() - migrateAt) / 1e9;
                        assertEquals("completed", status, () -> "the migration completes\n" + source.process().describe()
                                + target.process().describe());
                        // the switch: the host's side of the link moves to the new TAP, MAC included
                        String mac = linkMac(ns, OLD_TAP);
                        ns.run("ip", "link", "set", OLD_TAP, "down");
                        ns.run("ip", "link", "set", OLD_TAP, "address", "02:00:00:00:00:01");
                        ns.run("ip", "link", "set", NEW_TAP, "address", mac);
                        ns.run("ip", "addr", "del", RealGuest.HOST_CIDR, "dev", OLD_TAP);
                        ns.run("ip", "addr", "add", RealGuest.HOST_CIDR, "dev", NEW_TAP);
                        ns.run("ip", "link", "set", NEW_TAP, "up");
                        tgt.execute("cont", null);
                        double resume = seconds(tgt.awaitEvent("RESUME"));
                        JsonNode info = src.execute("query-migrate", null);
                        assertEquals("running", tgt.execute("query-status", null).path("status").asText(), "the target runs after cont");
                        assertEquals("postmigrate", src.execute("query-status", null).path("status").asText());
                        assertTrue(ping.awaitExit(Duration.ofSeconds(PING_SECONDS + 20)).isPresent(), "ping ends at its deadline");
                        Summary s = summarize(ping.stdout(), stop, resume);
                        System.out.printf("QemuNewTapMigrationTest: QEMU downtime %d ms, total %d ms (completed seen after %.0f ms); "
                                + "STOP->RESUME %.1f ms; ping at %.0f ms: %d sent, %d answered, %d lost (%d outside freeze +-10 ms), "
                                + "largest reply gap %.1f ms; lost sent at ms from STOP: %s%n", info.path("downtime").asLong(), info.path("total-time").asLong(),
                                completedAt * 1000, (resume - stop) * 1000, INTERVAL_S * 1000, s.sent, s.answered, s.lost,
                                s.lostOutsideFreeze, s.largestGapMs, s.lostAtMsFromStop);
                        assertEquals(0, s.lostOutsideFreeze, () -> "the seed's rule: replies are lost only inside the freeze "
                                + "(source STOP to target RESUME, +-10 ms); lost at ms from STOP: " + s.lostAtMsFromStop);
                        assertTrue(s.answeredAfterResume > 0, () -> "the guest answers on the new TAP after cont\n" + ping.stdout()
                                .lines().skip(Math.max(0, ping.stdout().lines().count() - 20)).reduce("", (a, b) -> a + b + "\n"));
                    }
                }
            }
        }
    }

    private record Summary(int sent, int answered, int lost, int lostOutsideFreeze, double largestGapMs, int answeredAfterResume,
            List<Long> lostAtMsFromStop) {
    }

    /** Send times of answered requests (reply time - rtt); a lost one's send time is interpolated between its neighbours. */
    static Summary summarize(String out, double stop, double resume) {
        TreeMap<Integer, Double> sent = new TreeMap<>();
        List<Integer> lost = new ArrayList<>();
        List<Double> replies = new ArrayList<>();
        Ping.SeqUnwrap unwrap = new Ping.SeqUnwrap(); // 16-bit icmp_seq, replies and "no answer yet" in printed order
        for (String text : out.split("\n")) {
            Ping.Line line = Ping.line(text).orElse(null);
            if (line != null && line.answered()) {
                double at = line.wallNanos() / 1e9;
                replies.add(at);
                sent.put(unwrap.next(line.rawSeq()), at - line.rttNanos() / 1e9);
            } else if (line != null) {
                lost.add(unwrap.next(line.rawSeq()));
            }
        }
        // -O reports a request still unanswered when the next one goes out: at 1 ms a slow reply is not a lost one
        lost.removeIf(sent::containsKey);
        int outside = 0;
        List<Long> offsets = new ArrayList<>();
        for (int seq : lost) {
            var before = sent.floorEntry(seq);
            var after = sent.ceilingEntry(seq);
            if (before == null || after == null) {
                outside++;
                continue;
            }
            double t = before.getValue() + (after.getValue() - before.getValue()) * (seq - before.getKey())
                    / Math.max(1, after.getKey() - before.getKey());
            offsets.add(Math.round((t - stop) * 1000));
            if (t < stop - 0.010 || t > resume + 0.010) {
                outside++;
            }
        }
        double gap = 0;
        int afterResume = 0;
        for (int i = 0; i < replies.size(); i++) {
            if (i > 0) {
                gap = Math.max(gap, replies.get(i) - replies.get(i - 1));
            }
            if (replies.get(i) > resume) {
                afterResume++;
            }
        }
        return new Summary(sent.size() + lost.size(), sent.size(), lost.size(), outside, gap * 1000, afterResume, offsets);
    }

    private static double seconds(JsonNode event) {
        JsonNode ts = event.path("timestamp");
        return ts.path("seconds").asLong() + ts.path("microseconds").asLong() / 1e6;
    }

    private static String linkMac(NetworkNamespace ns, String ifname) {
        String out = ns.run("ip", "-o", "link", "show", ifname);
        int i = out.indexOf("link/ether ");
        return out.substring(i + 11, i + 28);
    }
}
