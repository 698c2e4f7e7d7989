package dev.livetap.engine.transport;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.options.MigrationUri;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerPolicy;
import dev.livetap.nativeio.ProcessIdentity;
import dev.livetap.nativeio.linux.JnaOs;
import dev.livetap.nativeio.testing.FdCounter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A flood of refused peers on an incoming-migration socket: each is closed at once, the memory
 * kept about them is bounded ({@link UnixMigrationTransport#MAX_REFUSED_PEERS_REMEMBERED}), the
 * wait still ends at its timeout, and no fd outlives it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MigrationListenerLimitsTest {
    static final int FLOOD = 3 * UnixMigrationTransport.MAX_REFUSED_PEERS_REMEMBERED;

    Os os;
    Path dir;
    ScheduledExecutorService scheduler;
    FdCounter fds;

    @BeforeEach
    void setUp() throws Exception {
        os = JnaOs.instance();
        os.reactor();
        fds = FdCounter.snapshot();
        dir = Files.createTempDirectory("livetap-listener");
        scheduler = Executors.newSingleThreadScheduledExecutor();
    }

    @AfterEach
    void tearDown() throws Exception {
        scheduler.shutdownNow();
        Files.deleteIfExists(dir.resolve("flood.sock"));
        Files.deleteIfExists(dir);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> fds.assertNoLeak());
    }

    @Test
    void refusedPeersAreClosedCountedAndOnlyTheFirstFewRemembered() throws Exception {
        int otherUid = ProcessIdentity.uid() == 4242 ? 4243 : 4242; // a policy our own connections fail
        UnixMigrationTransport.Settings settings = UnixMigrationTransport.Settings.defaults(Duration.ofMillis(1500))
                .withPeerPolicy(new PeerPolicy(Set.of(otherUid)));
        Path sock = dir.resolve("flood.sock");
        try (UnixMigrationTransport t = new UnixMigrationTransport(os, settings, (delay, task) -> {
            ScheduledFuture<?> f = scheduler.schedule(task, delay.toMillis(), TimeUnit.MILLISECONDS);
            return () -> f.cancel(false);
        })) {
            CompletableFuture<FrameChannel> accepted = t.acceptOne(new MigrationUri.Unix(sock.toString())).toCompletableFuture();
            List<OwnedFd> clients = new ArrayList<>();
            try {
                for (int i = 0; i < FLOOD; i++) {
                    clients.add(os.unix().connect(sock));
                }
                assertFalse(accepted.isDone(), "refused peers do not end the wait");
                ExecutionException e = assertThrows(ExecutionException.class, () -> accepted.get(10, TimeUnit.SECONDS));
                assertInstanceOf(TimeoutException.class, e.getCause(), "the wait ends at its timeout: " + e.getCause());
                String message = e.getCause().getMessage();
                assertTrue(message.contains("; refused " + FLOOD + " peer(s):"), "every refused peer is counted: " + message);
                Matcher named = Pattern.compile(" pid \\d+ uid \\d+").matcher(message);
                int count = 0;
                while (named.find()) {
                    count++;
                }
                assertEquals(UnixMigrationTransport.MAX_REFUSED_PEERS_REMEMBERED, count,
                        "only the first refused peers are remembered by pid and uid: " + message);
                assertTrue(message.endsWith(" ..."), "the message says that more were refused: " + message);
                assertFalse(Files.exists(sock), "the socket path is removed when the wait ends");
            } finally {
                OwnedFd.closeAll(clients);
            }
        }
    }
}
