package dev.livetap.testbed.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpConnection;
import dev.livetap.engine.qmp.QmpJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One local migration driven over QMP the way a management layer does it, without polling:
 * {@code local} on both sides, {@code migrate-incoming}, {@code migrate}, then the blocking
 * wait for the target's MIGRATION completed and RESUME events. Downtime is the target's
 * {@code x-target-started-ns} minus the source's {@code x-source-stopped-ns} (design decision 7).
 */
final class Hop {
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "bench-watchdog");
        t.setDaemon(true);
        return t;
    });

    /** Replies that never came (bounded waits that gave up), over every client of this JVM. */
    static final AtomicInteger STALLS = new AtomicInteger();
    /** {@code migrate-set-capabilities} arguments turning {@code events} on: MIGRATION events need it. */
    static final com.fasterxml.jackson.databind.node.ObjectNode EVENTS_ON = eventsOn();

    private static com.fasterxml.jackson.databind.node.ObjectNode eventsOn() {
        com.fasterxml.jackson.databind.node.ObjectNode cap = QmpJson.object();
        cap.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        return cap;
    }

    /** Downtime in ms and the stamps. */
    record Result(double downtimeMs, long stoppedNs, long startedNs, JsonNode source, JsonNode target) {
    }

    private Hop() {
    }

    /** Sets {@code local} and {@code migrate-incoming} on the target; returns once its socket exists. */
    static void prepareTarget(QmpClient tgt, String uri, Duration timeout) throws IOException, TimeoutException {
        tgt.execute("migrate-set-parameters", QmpJson.object().put("local", true));
        tgt.execute("migrate-set-capabilities", EVENTS_ON); // MIGRATION events need it, as from QEMU
        tgt.execute("migrate-incoming", QmpJson.object().put("uri", uri));
        Path path = Path.of(uri.substring("unix:".length()));
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(path)) {
            if (System.nanoTime() > deadline) {
                throw new IOException("the target did not listen at " + path + " in time");
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
    }

    static void startSource(QmpClient src, String uri) throws TimeoutException {
        src.execute("migrate-set-parameters", QmpJson.object().put("local", true));
        src.execute("migrate-set-capabilities", EVENTS_ON);
        src.execute("migrate", QmpJson.object().put("uri", uri));
    }

    /**
     * Waits until the source connected (status active). The target's socket path appears at bind(2),
     * a moment before listen(2): a connect in between is refused, and the source fails at once
     * (nothing stopped yet). Such a refusal is retried, bounded; any other failure is thrown.
     */
    static void awaitConnected(QmpClient src, String uri, Duration timeout) throws IOException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int attempt = 0; ; attempt++) {
            String status;
            do {
                status = src.awaitEvent("MIGRATION").path("data").path("status").asText();
            } while (status.equals("setup"));
            if (!status.equals("failed")) {
                return;
            }
            JsonNode info = src.execute("query-migrate", null);
            String error = info.path("error-desc").asText();
            if (!error.startsWith("cannot connect") || attempt >= 100 || System.nanoTime() > deadline) {
                throw new IOException("the source failed: " + error);
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            src.execute("migrate", QmpJson.object().put("uri", uri));
        }
    }

    /** Waits (bounded: the clients are closed when {@code timeout} passes) for the end; fails unless completed and resumed. */
    static Result finish(QmpClient src, QmpClient tgt, Duration timeout) throws IOException, TimeoutException {
        ScheduledFuture<?> dog = WATCHDOG.schedule(() -> {
            src.close();
            tgt.close();
        }, timeout.toMillis(), TimeUnit.MILLISECONDS);
        try {
            JsonNode end = tgt.awaitEvent("MIGRATION");
            while (!end.path("data").path("status").asText().matches("completed|failed|cancelled")) {
                end = tgt.awaitEvent("MIGRATION");
            }
            String status = end.path("data").path("status").asText();
            if (!status.equals("completed")) {
                JsonNode si = src.execute("query-migrate", null);
                JsonNode ti = tgt.execute("query-migrate", null);
                throw new IOException("migration " + status + ": source " + si + " target " + ti);
            }
            tgt.awaitEvent("RESUME");
            JsonNode si = queryMigrate(src);
            if (si == null) {
                return new Result(Double.NaN, 0, 0, null, tgt.execute("query-migrate", null));
            }
            while (!si.path("status").asText().equals("completed")) {
                src.awaitEvent("MIGRATION");
                si = src.execute("query-migrate", null);
            }
            JsonNode ti = tgt.execute("query-migrate", null);
            long stopped = si.path("x-source-stopped-ns").asLong();
            long started = ti.path("x-target-started-ns").asLong();
            if (stopped == 0 || started == 0) {
                throw new IOException("no monotonic stamps: source " + si + " target " + ti);
            }
            return new Result((started - stopped) / 1e6, stopped, started, si, ti);
        } catch (IOException | TimeoutException | IllegalStateException e) {
            if (dog.isDone()) {
                throw new IOException("the migration did not finish within " + timeout.toMillis() + " ms", e);
            }
            throw e;
        } finally {
            dog.cancel(false);
        }
    }

    /**
     * query-migrate bounded to 3 s; null when no reply comes (counted in {@link #STALLS}: an
     * endpoint whose QMP socket stopped answering, an open engine issue, docs/profile-switchover.md).
     */
    static JsonNode queryMigrate(QmpClient q) {
        try {
            return QmpConnection.unwrap(q.request("query-migrate", null, List.of(), Duration.ofSeconds(3)));
        } catch (TimeoutException e) {
            STALLS.incrementAndGet();
            return null;
        }
    }

    /** {@code quit} bounded to 3 s (a stalled endpoint is left to the process's end). */
    static void quit(QmpClient q) {
        try {
            q.request("quit", null, List.of(), Duration.ofSeconds(3));
        } catch (TimeoutException | RuntimeException gone) {
            // closed by the endpoint, the process, or the timeout
        } finally {
            q.close();
        }
    }

    /** {@code /proc/loadavg}'s first three fields. */
    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "unknown";
        }
    }
}
