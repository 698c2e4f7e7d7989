package dev.livetap.engine.internal;

import dev.livetap.engine.api.VmSpec;
import dev.livetap.engine.api.LivetapException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.vm.VmEvent;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.linux.JnaOs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a control plane may rely on when a {@link EndpointCore} stage completes, as with QEMU's
 * replies: {@code migrate-incoming} listens before it answers and answers a bind error as its error
 * (qmp_migrate_incoming binds); the events a command causes (STOP of {@code stop}, RESUME of
 * {@code cont}, MIGRATION {@code setup} of {@code migrate}/{@code migrate-incoming}) have reached the
 * listeners when its stage completes. Real AF_UNIX path sockets in a private temporary directory.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VmReplyOrderTest {
    private static final long T = 10;

    @Test
    void migrateIncomingAnswersTheBindErrorAndCompletesOnlyOnceListening() throws Exception {
        Path dir = Files.createTempDirectory("livetap-incoming");
        Path sock = dir.resolve("in.sock");
        JnaOs.instance().reactor();
        try (EngineCore engine = EngineCore.create(EngineSettings.defaults().withSystemName("incoming-order"))) {
            EndpointCore target = engine.createVm(VmSpec.of("t").incoming(true));
            List<VmEvent> events = new CopyOnWriteArrayList<>();
            target.subscribe(events::add).toCompletableFuture().get(T, TimeUnit.SECONDS);

            ExecutionException bad = assertThrows(ExecutionException.class, () -> target
                    .migrateIncoming("unix:/nonexistent/livetap-dir/x.sock").toCompletableFuture().get(T, TimeUnit.SECONDS),
                    "a socket that cannot be bound is the command's error, as in QEMU");
            LivetapException l = assertInstanceOf(LivetapException.class, bad.getCause());
            assertEquals("Failed to bind socket to /nonexistent/livetap-dir/x.sock: No such file or directory", l.desc(),
                    "QEMU's socket_listen_unix text");
            assertEquals("none", target.query().toCompletableFuture().get(T, TimeUnit.SECONDS).status().qmpName(),
                    "a refused migrate-incoming starts nothing");
            assertEquals(List.of("MIGRATION setup"), events.stream().map(VmReplyOrderTest::token).toList(),
                    "QEMU announces setup before it binds, even when the bind fails");

            target.migrateIncoming("unix:" + sock).toCompletableFuture().get(T, TimeUnit.SECONDS);
            // read before connecting: the connection is the target's news (MIGRATION active), at any moment after it
            assertEquals(List.of("MIGRATION setup", "MIGRATION setup"), events.stream().map(VmReplyOrderTest::token).toList(),
                    "setup is announced before the reply, as QEMU's qemu_start_incoming_migration does");
            OwnedFd peer = JnaOs.instance().unix().connect(sock); // no retry: listening when the stage completed
            peer.close();
        } finally {
            Files.deleteIfExists(sock);
            Files.deleteIfExists(dir.resolve("in.sock.lock"));
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void stopAndContCompleteAfterTheirStopAndResumeReachedTheListeners() throws Exception {
        JnaOs.instance().reactor();
        try (EngineCore engine = EngineCore.create(EngineSettings.defaults().withSystemName("stop-order"))) {
            EndpointCore vm = engine.createVm(VmSpec.of("v"));
            List<String> seen = new CopyOnWriteArrayList<>();
            vm.subscribe(e -> seen.add(token(e))).toCompletableFuture().get(T, TimeUnit.SECONDS);
            for (int i = 0; i < 20; i++) {
                vm.stop().thenRun(() -> seen.add("stop reply")).toCompletableFuture().get(T, TimeUnit.SECONDS);
                vm.cont().thenRun(() -> seen.add("cont reply")).toCompletableFuture().get(T, TimeUnit.SECONDS);
            }
            for (int i = 0; i < seen.size(); i += 4) {
                assertEquals(List.of("STOP", "stop reply", "RESUME", "cont reply"), seen.subList(i, i + 4),
                        "round " + i / 4 + ": the event comes before the reply of the command that caused it: " + seen);
            }
            assertEquals(80, seen.size(), String.valueOf(seen));
            assertEquals(Map.of("running", true, "status", "running"), vm.status().toCompletableFuture().get(T, TimeUnit.SECONDS));
        }
    }

    private static String token(VmEvent e) {
        return e.event() + (e.data().containsKey("status") ? " " + e.data().get("status") : "");
    }
}
