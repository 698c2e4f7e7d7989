package dev.livetap.testbed.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.engine.qmp.QmpBuiltins;
import dev.livetap.engine.qmp.QmpCommandRegistry;
import dev.livetap.engine.qmp.QmpServer;
import dev.livetap.engine.qmp.QmpVersion;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.linux.JnaOs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The bench's concurrent QMP driver against the engine's real QMP server (no VMs: built-in commands only). */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpMuxTest {
    private static final long SECOND = 1_000_000_000L;
    private final List<QmpServer> servers = new ArrayList<>();
    private Path dir;

    @BeforeEach
    void start() throws IOException {
        Os os = JnaOs.instance();
        dir = Files.createTempDirectory("livetap-qmpmux");
        for (int i = 0; i < 3; i++) {
            QmpCommandRegistry registry = new QmpCommandRegistry();
            QmpBuiltins.register(registry, QmpVersion.DEFAULT);
            servers.add(QmpServer.start(os, registry, QmpServer.Config.defaults(dir.resolve("q" + i + ".qmp"),
                    Clock.systemUTC())));
        }
    }

    @AfterEach
    void stop() throws IOException {
        servers.forEach(QmpServer::close);
        DowntimeBench.deleteTree(dir);
    }

    private List<Path> paths() {
        List<Path> p = new ArrayList<>();
        for (QmpServer s : servers) {
            p.add(s.path());
        }
        return p;
    }

    @Test
    void manyCommandsWrittenAtOnceAreAnsweredInOrderOnEveryConnection() throws IOException {
        try (QmpMux mux = new QmpMux()) {
            List<QmpMux.Conn> conns = mux.connectAll(paths(), List.of("a", "b", "c"), 10_000);
            int perConn = 40; // more than the 8 queued requests after which the server stops reading a client
            List<List<String>> seen = new ArrayList<>();
            int[] replies = {0};
            for (QmpMux.Conn c : conns) {
                List<String> order = new ArrayList<>();
                seen.add(order);
                for (int k = 0; k < perConn; k++) {
                    String cmd = k % 10 == 9 ? "no-such-command" : "query-version";
                    int kk = k;
                    c.send(cmd, null, r -> {
                        replies[0]++;
                        order.add(kk + ":" + (r.ok() ? "ok" : r.error()));
                        assertTrue(r.receivedNs() >= r.sentNs(), "a reply is read after its command was written");
                    });
                }
            }
            mux.pump(System.nanoTime() + 20 * SECOND, () -> replies[0] == 3 * perConn, "every reply");
            for (List<String> order : seen) {
                assertEquals(perConn, order.size());
                for (int k = 0; k < perConn; k++) {
                    String want = k + ":" + (k % 10 == 9 ? "The command no-such-command has not been found" : "ok");
                    assertEquals(want, order.get(k), "replies come back in command order with their own callback");
                }
            }
            assertEquals(0, conns.get(0).unanswered());
        }
    }

    @Test
    void aWaitThatIsNotSatisfiedEndsAtItsDeadline() throws IOException {
        try (QmpMux mux = new QmpMux()) {
            mux.connectAll(paths().subList(0, 1), List.of("a"), 10_000);
            long t0 = System.nanoTime();
            Qmp.TimeoutException e = assertThrows(Qmp.TimeoutException.class,
                    () -> mux.pump(System.nanoTime() + SECOND / 5, () -> false, "an event that never comes"));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms >= 190 && ms < 5_000, "waited " + ms + " ms for a 200 ms deadline");
            assertTrue(e.getMessage().contains("an event that never comes"), e.getMessage());
        }
    }

    @Test
    void aTimerRunsOnThePumpingThreadAndALostConnectionFailsThePump() throws IOException {
        try (QmpMux mux = new QmpMux()) {
            List<QmpMux.Conn> conns = mux.connectAll(paths().subList(0, 1), List.of("a"), 10_000);
            Thread pumping = Thread.currentThread();
            boolean[] ran = {false};
            mux.later(SECOND / 20, () -> ran[0] = pumping == Thread.currentThread());
            mux.pump(System.nanoTime() + 5 * SECOND, () -> ran[0], "the timer");
            assertTrue(ran[0]);
            servers.get(0).close(); // the server drops its clients
            IOException lost = assertThrows(IOException.class,
                    () -> mux.pump(System.nanoTime() + 10 * SECOND, () -> false, "anything"));
            assertTrue(lost.getMessage().contains("closed the connection"), lost.getMessage());
            assertTrue(conns.get(0).closed());
        }
    }

    @Test
    void overlapCountsIntervalsOpenAtTheSameInstant() {
        assertEquals(0, ConcurrentBench.maxOverlap(List.of()));
        assertEquals(1, ConcurrentBench.maxOverlap(List.of(new long[] {0, 1}, new long[] {2, 3})));
        assertEquals(2, ConcurrentBench.maxOverlap(List.of(new long[] {0, 2}, new long[] {2, 3})), "touching ends overlap");
        assertEquals(3, ConcurrentBench.maxOverlap(List.of(new long[] {0, 10}, new long[] {1, 2}, new long[] {1, 9},
                new long[] {3, 4})));
    }
}
