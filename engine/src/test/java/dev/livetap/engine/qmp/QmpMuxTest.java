package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.linux.JnaOs;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The multiplexed QMP client against the engine's real QMP server (no VMs: built-in commands only). */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpMuxTest {
    private static final long SECOND = 1_000_000_000L;
    private final List<QmpServer> servers = new ArrayList<>();
    @TempDir
    Path dir;

    @BeforeEach
    void start() {
        Os os = JnaOs.instance();
        for (int i = 0; i < 3; i++) {
            QmpCommandRegistry registry = new QmpCommandRegistry();
            QmpBuiltins.register(registry, QmpVersion.DEFAULT);
            servers.add(QmpServer.start(os, registry, QmpServer.Config.defaults(dir.resolve("q" + i + ".qmp"),
                    Clock.systemUTC())));
        }
    }

    @AfterEach
    void stop() {
        servers.forEach(QmpServer::close);
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
            QmpMux.TimeoutException e = assertThrows(QmpMux.TimeoutException.class,
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
}
