package dev.livetap.testbed.orchestration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.testing.RequiresRoot;
import dev.livetap.nativeio.testing.RequiresTun;
import dev.livetap.testbed.vmm.VmmProcess;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link LocalMigration} waits on QMP events, not by polling: a relay in front of each VMM's QMP
 * socket counts the {@code query-migrate} and {@code query-status} requests while the source holds
 * its freeze for 300 ms and the target, started paused, stays paused for the driver's
 * one-second self-resume grace. A driver polling every 2 ms sends hundreds; this one a handful.
 */
@RequiresTun
@RequiresRoot
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LocalMigrationWaitsOnEventsTest {
    private static final int MAX_QUERIES_PER_SIDE = 4;

    @Test
    void aHeldMigrationIntoAPausedTargetSendsABoundedFewQueries() throws Exception {
        try (VmmPairFixture vmms = VmmPairFixture.create("livetap-nopoll")) {
            Path dir = vmms.dir();
            VmmProcess a = vmms.source("a");
            VmmProcess b = vmms.target("b", true);
            a.connect().addNic("lt0", 2, false, "52:54:00:12:34:56");
            b.connect().addNic("lt0", 2, true, "52:54:00:12:34:56");
            CountingRelay toA = new CountingRelay(dir.resolve("a-relay.qmp"), a.qmpSocket());
            vmms.add(toA);
            CountingRelay toB = new CountingRelay(dir.resolve("b-relay.qmp"), b.qmpSocket());
            vmms.add(toB);

            long[] held = new long[2];
            LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(toA.front, toB.front)
                    .withUri(LocalMigration.defaultUri(b.qmpSocket())).withHold((src, info) -> {
                        held[0] = System.nanoTime();
                        java.util.concurrent.locks.LockSupport.parkNanos(300_000_000L);
                        while (System.nanoTime() - held[0] < 300_000_000L) {
                            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000L); // a spurious early return
                        }
                        held[1] = System.nanoTime();
                    }), line -> { });

            assertTrue(r.completed(), LocalMigration.format(r));
            assertTrue(held[1] - held[0] >= 300_000_000L, "the hold ran");
            assertFalse(r.resumedByCont(), "no cont was asked for");
            assertEquals("paused", b.runState(), "the target started paused stays paused without cont");
            assertTrue(r.timeline().stream().anyMatch(s -> s.event().equals("MIGRATION") && s.detail().equals("pre-switchover")),
                    "the timeline has the source's events: " + r.timeline());
            // the command names quoted: the one-time probe (query-migrate-parameters) is not a poll
            int srcQueries = toA.count("\"query-migrate\"") + toA.count("\"query-status\"");
            int tgtQueries = toB.count("\"query-migrate\"") + toB.count("\"query-status\"");
            assertTrue(srcQueries <= MAX_QUERIES_PER_SIDE, "source queries " + srcQueries + ": " + toA.sent());
            assertTrue(tgtQueries <= MAX_QUERIES_PER_SIDE, "target queries " + tgtQueries + ": " + toB.sent());
            assertTrue(toA.count("\"events\"") == 1 && toB.count("\"events\"") == 1, "capability events on both sides");
        }
    }

    /**
     * The source reports {@code completed} when {@code loaded} reaches it; the target resumes a moment
     * later. A command sent in between is work for both VMMs inside the downtime (docs/benchmarks.md,
     * "Downtime A/B of the merged main"): the driver waits for the target's RESUME first. The target's
     * relay holds the RESUME back for 300 ms, so a driver that asked at the source's {@code completed}
     * shows up in the journal every time.
     */
    @Test
    void noCommandReachesEitherVmmBetweenMigrateAndTheTargetsResume() throws Exception {
        try (VmmPairFixture vmms = VmmPairFixture.create("livetap-quiet")) {
            Path dir = vmms.dir();
            VmmProcess a = vmms.source("a");
            VmmProcess b = vmms.target("b", false);
            a.connect().addNic("lt0", 2, false, "52:54:00:12:34:56");
            b.connect().addNic("lt0", 2, true, "52:54:00:12:34:56");
            List<String> journal = java.util.Collections.synchronizedList(new ArrayList<>());
            CountingRelay toA = new CountingRelay(dir.resolve("a-relay.qmp"), a.qmpSocket(), "source", journal, null);
            vmms.add(toA);
            CountingRelay toB = new CountingRelay(dir.resolve("b-relay.qmp"), b.qmpSocket(), "target", journal, "RESUME");
            vmms.add(toB);

            LocalMigration.Result r = LocalMigration.run(LocalMigration.Options.of(toA.front, toB.front)
                    .withUri(LocalMigration.defaultUri(b.qmpSocket())), line -> { });

            assertTrue(r.completed(), LocalMigration.format(r));
            assertEquals("running", b.runState(), "the target resumed by itself");
            List<String> seen;
            synchronized (journal) {
                seen = List.copyOf(journal);
            }
            int migrate = seen.indexOf("source command migrate");
            int resume = seen.indexOf("target event RESUME");
            assertTrue(migrate >= 0 && resume > migrate, "migrate, then the target's RESUME: " + seen);
            List<String> between = seen.subList(migrate + 1, resume).stream().filter(e -> e.contains(" command ")).toList();
            assertEquals(List.of(), between, "commands between migrate and the target's RESUME: " + seen);
        }
    }

    /**
     * A UNIX-socket relay that records what clients send (the driver's QMP requests); with a journal,
     * also the order of commands and events (named {@code "<side> command <name>"}, {@code "<side> event
     * <name>"}), and it can hold back the server's data carrying one event for {@link #HOLD_MS} ms.
     */
    private static final class CountingRelay implements AutoCloseable {
        final Path front;
        private final Path back;
        private final ServerSocketChannel server;
        private final StringBuffer sent = new StringBuffer();
        private final List<SocketChannel> channels = new ArrayList<>();
        private final Thread acceptor;
        private final String side;
        private final List<String> journal;
        private final String heldEvent;

        CountingRelay(Path front, Path back) throws IOException {
            this(front, back, "", java.util.Collections.synchronizedList(new ArrayList<>()), null);
        }

        CountingRelay(Path front, Path back, String side, List<String> journal, String heldEvent) throws IOException {
            this.front = front;
            this.back = back;
            this.side = side;
            this.journal = journal;
            this.heldEvent = heldEvent;
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(front));
            acceptor = new Thread(this::acceptLoop, "relay-" + front.getFileName());
            acceptor.setDaemon(true);
            acceptor.start();
        }

        private void acceptLoop() {
            try {
                while (true) {
                    SocketChannel client = server.accept();
                    SocketChannel upstream = SocketChannel.open(UnixDomainSocketAddress.of(back));
                    synchronized (channels) {
                        channels.add(client);
                        channels.add(upstream);
                    }
                    pump(client, upstream, true);
                    pump(upstream, client, false);
                }
            } catch (IOException closed) {
                // the relay closed
            }
        }

        private void pump(SocketChannel from, SocketChannel to, boolean record) {
            Thread t = new Thread(() -> {
                ByteBuffer buf = ByteBuffer.allocate(8192);
                StringBuilder partial = new StringBuilder();
                try {
                    while (from.read(buf) >= 0) {
                        buf.flip();
                        String text = StandardCharsets.UTF_8.decode(buf.duplicate()).toString();
                        if (record) {
                            sent.append(text);
                        }
                        List<String> entries = journalEntries(partial, text, record);
                        if (heldEvent != null && entries.contains(side + " event " + heldEvent)) {
                            java.util.concurrent.locks.LockSupport.parkNanos(HOLD_MS * 1_000_000L);
                        }
                        journal.addAll(entries); // when it passes on: the order the driver sees
                        while (buf.hasRemaining()) {
                            to.write(buf);
                        }
                        buf.clear();
                    }
                    to.shutdownOutput();
                } catch (IOException closed) {
                    // one side went away
                }
            }, "relay-pump");
            t.setDaemon(true);
            t.start();
        }

        static final long HOLD_MS = 300;
        private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

        /** The complete lines of {@code text} (after what {@code partial} kept) as journal entries. */
        private List<String> journalEntries(StringBuilder partial, String text, boolean fromClient) {
            partial.append(text);
            List<String> out = new ArrayList<>();
            for (int nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
                String line = partial.substring(0, nl).trim();
                partial.delete(0, nl + 1);
                if (line.isEmpty()) {
                    continue;
                }
                try {
                    com.fasterxml.jackson.databind.JsonNode m = JSON.readTree(line);
                    if (fromClient && m.has("execute")) {
                        out.add(side + " command " + m.get("execute").asText());
                    } else if (!fromClient && m.has("event")) {
                        out.add(side + " event " + m.get("event").asText());
                    }
                } catch (IOException notJson) {
                    out.add(side + " unreadable " + line);
                }
            }
            return out;
        }

        String sent() {
            return sent.toString();
        }

        int count(String text) {
            String s = sent.toString();
            int n = 0;
            for (int i = s.indexOf(text); i >= 0; i = s.indexOf(text, i + 1)) {
                n++;
            }
            return n;
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (channels) {
                for (SocketChannel c : channels) {
                    c.close();
                }
            }
            Files.deleteIfExists(front);
        }
    }
}
