package dev.livetap.testbed.orchestration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * A local migration driven over QMP, as a management layer would: {@code local} on both sides,
 * {@code migrate-incoming} on the target, {@code migrate} on the source, then it waits on the
 * MIGRATION and RESUME events (capability {@code events} on both sides; no polling:
 * {@code query-migrate} only for a final or held status) until the source reaches a final status
 * and (on success) the target runs again. Downtime is the target's {@code x-target-started-ns} minus the source's
 * {@code x-source-stopped-ns}: CLOCK_MONOTONIC stamps shared by every process of the host
 * (design decision 7); it is the one downtime of the progress line, the summary and the JSON.
 * The timeline is ordered by the VMMs' CLOCK_MONOTONIC event stamps ({@code x-monotonic-ns})
 * when every event carries one, else (e.g. QEMU) by the events' wall-clock timestamps. Every wait
 * is bounded by {@link Options#timeout()}.
 */
public final class LocalMigration {
    /** How long a completed target may stay paused before it counts as waiting for cont. */
    private static final long TARGET_SELF_RESUME_NANOS = 1_000_000_000L;
    private static final Set<String> FINAL = Set.of("completed", "failed", "cancelled");
    private static final int CONNECT_REFUSED_RETRIES = 5;
    private static final long CONNECT_REFUSED_PAUSE_NANOS = 20_000_000;

    /**
     * @param uri              {@code unix:PATH}; null: {@link #defaultUri(Path)} next to the target's QMP socket
     * @param backendTransfer  sets migration parameter {@code local} on both sides (false: the
     *                         baseline, the target uses its own TAP)
     * @param contTarget       send {@code cont} to a target started paused ({@code -S}) once it completed
     * @param hold             null: no hold; otherwise the source gets capability {@code pause-before-switchover},
     *                         and while it waits in {@code pre-switchover} this runs, then {@code migrate-continue}
     */
    public record Options(Path source, Path target, String uri, boolean backendTransfer, Duration timeout,
            boolean contTarget, Hold hold) {
        public Options {
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(target, "target");
            Objects.requireNonNull(timeout, "timeout");
        }

        public static Options of(Path source, Path target) {
            return new Options(source, target, null, true, Duration.ofSeconds(60), false, null);
        }

        public Options withUri(String value) {
            return new Options(source, target, value, backendTransfer, timeout, contTarget, hold);
        }

        public Options withBackendTransfer(boolean value) {
            return new Options(source, target, uri, value, timeout, contTarget, hold);
        }

        public Options withTimeout(Duration value) {
            return new Options(source, target, uri, backendTransfer, value, contTarget, hold);
        }

        public Options withContTarget(boolean value) {
            return new Options(source, target, uri, backendTransfer, timeout, value, hold);
        }

        public Options withHold(Hold value) {
            return new Options(source, target, uri, backendTransfer, timeout, contTarget, value);
        }

        public String effectiveUri() {
            return uri != null ? uri : defaultUri(target);
        }
    }

    /**
     * What a control plane does while the source holds its freeze in {@code pre-switchover}
     * (queues stopped, device state not yet sent); {@code migrate-continue} follows when it returns.
     */
    @FunctionalInterface
    public interface Hold {
        /**
         * @param source the source's QMP client (status checks go through it)
         * @param info   the {@code query-migrate} reply that reported {@code pre-switchover}
         */
        void held(QmpClient source, JsonNode info) throws IOException, TimeoutException;
    }

    /** One event of the timeline: microseconds since {@code migrate} was sent, on the clock {@link Result#timelineClock()} names. */
    public record Step(long atMicros, String side, String event, String detail) {
    }

    /** The timeline's clock: the VMMs' CLOCK_MONOTONIC event stamps, or the QMP events' wall-clock timestamps. */
    public static final String MONOTONIC = "monotonic";
    public static final String WALL = "wall";

    /**
     * The outcome.
     *
     * @param downtimeMs source stop to target resume in ms, rounded to the microsecond; -1 when unknown
     *                   (failed, or a paused target not continued)
     * @param timelineClock {@link #MONOTONIC} or {@link #WALL}: what orders {@code timeline}
     * @param sourceInfo the source's final {@code query-migrate}; {@code targetInfo} the target's
     */
    public record Result(String status, String uri, boolean backendTransfer, long totalMs, double downtimeMs,
            long setupMs, String error, boolean resumedByCont, List<Step> timeline, String timelineClock,
            JsonNode sourceInfo, JsonNode targetInfo, long wallMs) {
        public boolean completed() {
            return "completed".equals(status);
        }

        /** One JSON object (the {@code --json} output of {@code livetap migrate}). */
        public ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("status", status);
            o.put("uri", uri);
            o.put("backend_transfer", backendTransfer);
            o.put("total_ms", totalMs);
            o.put("downtime_ms", downtimeMs);
            o.put("setup_ms", setupMs);
            o.put("resumed_by_cont", resumedByCont);
            o.put("wall_ms", wallMs);
            if (error != null) {
                o.put("error", error);
            }
            o.put("timeline_clock", timelineClock);
            var tl = o.putArray("timeline");
            for (Step s : timeline) {
                ObjectNode e = tl.addObject();
                e.put("at_us", s.atMicros());
                e.put("side", s.side());
                e.put("event", s.event());
                e.put("detail", s.detail());
            }
            o.set("source", sourceInfo);
            o.set("target", targetInfo);
            return o;
        }
    }

    private LocalMigration() {
    }

    /** {@code unix:DIR/NAME-incoming.sock} for a target QMP socket {@code DIR/NAME.qmp}. */
    public static String defaultUri(Path targetQmp) {
        String file = targetQmp.getFileName().toString();
        String base = file.endsWith(".qmp") ? file.substring(0, file.length() - 4) : file;
        Path dir = targetQmp.toAbsolutePath().getParent();
        return "unix:" + dir.resolve(base + "-incoming.sock");
    }

    /**
     * Runs the migration; {@code progress} gets one line per status change (call it with
     * {@code System.err::println} or ignore it).
     *
     * @throws IOException when a QMP socket cannot be reached
     * @throws TimeoutException when a QMP reply does not come in time
     */
    public static Result run(Options o, Consumer<String> progress) throws IOException, TimeoutException {
        String uri = o.effectiveUri();
        long startNanos = System.nanoTime();
        long deadline = startNanos + o.timeout().toNanos();
        Duration replyTimeout = o.timeout().compareTo(Duration.ofSeconds(15)) < 0 ? o.timeout() : Duration.ofSeconds(15);
        try (QmpClient src = connect("source", o.source(), replyTimeout);
                QmpClient tgt = connect("target", o.target(), replyTimeout)) {
            src.negotiate();
            tgt.negotiate();
            ObjectNode local = JsonNodeFactory.instance.objectNode().put("local", o.backendTransfer());
            src.execute("migrate-set-parameters", local);
            tgt.execute("migrate-set-parameters", local);
            // MIGRATION events are what the driver waits on: QEMU (and livetap) send them only with capability events
            ObjectNode srcCaps = JsonNodeFactory.instance.objectNode();
            var caps = srcCaps.putArray("capabilities");
            caps.addObject().put("capability", "events").put("state", true);
            if (o.hold() != null) {
                caps.addObject().put("capability", "pause-before-switchover").put("state", true);
            }
            src.execute("migrate-set-capabilities", srcCaps);
            ObjectNode tgtCaps = JsonNodeFactory.instance.objectNode();
            tgtCaps.putArray("capabilities").addObject().put("capability", "events").put("state", true);
            tgt.execute("migrate-set-capabilities", tgtCaps);
            tgt.execute("migrate-incoming", JsonNodeFactory.instance.objectNode().put("uri", uri));
            progress.accept("target: migrate-incoming " + uri);
            awaitListening(uri, deadline);
            long migrateWallMicros = nowMicros();
            long migrateNanos = System.nanoTime(); // CLOCK_MONOTONIC, as the VMMs' stamps
            String error = null;
            try {
                src.execute("migrate", JsonNodeFactory.instance.objectNode().put("uri", uri));
            } catch (QmpException e) {
                error = e.desc();
            }
            progress.accept("source: migrate " + uri + (error == null ? "" : " refused: " + error));
            List<Step> timeline = new ArrayList<>();
            List<JsonNode> srcEvents = new ArrayList<>();
            List<JsonNode> tgtEvents = new ArrayList<>();
            String status = error == null ? "setup" : "failed";
            JsonNode srcInfo = JsonNodeFactory.instance.objectNode();
            int refusedRetries = 0;
            boolean continued = false;
            // the source's MIGRATION events drive it: one query-migrate per final or held status, no polling
            while (error == null) {
                long left = deadline - System.nanoTime();
                Optional<JsonNode> next = left > 0 ? src.pollEvent(Duration.ofNanos(left)) : Optional.empty();
                if (next.isEmpty()) {
                    if (src.atEof()) {
                        error = "the source closed its QMP connection (status " + status + ")";
                        status = "failed";
                    }
                    break;
                }
                JsonNode event = next.get();
                srcEvents.add(event);
                if (!"MIGRATION".equals(event.path("event").asText())) {
                    continue;
                }
                status = event.path("data").path("status").asText("none");
                progress.accept(String.format("source: %-10s (%.1f ms after migrate was sent)", status,
                        (System.nanoTime() - migrateNanos) / 1e6));
                if (status.equals("failed")) {
                    srcInfo = src.execute("query-migrate", null);
                    if (connectRefused(srcInfo) && refusedRetries < CONNECT_REFUSED_RETRIES) {
                        // The target's socket path appears at bind(), a moment before listen(): a connect in
                        // between is refused although the target is about to listen. Nothing was sent, the
                        // source still runs: migrate again, a bounded number of times.
                        refusedRetries++;
                        progress.accept("source: connect refused (target not yet listening), migrate again (" + refusedRetries + ")");
                        LockSupport.parkNanos(CONNECT_REFUSED_PAUSE_NANOS);
                        src.execute("migrate", JsonNodeFactory.instance.objectNode().put("uri", uri));
                        continue;
                    }
                    break;
                }
                if (FINAL.contains(status)) {
                    break;
                }
                if (status.equals("pre-switchover") && o.hold() != null && !continued) {
                    srcInfo = src.execute("query-migrate", null);
                    try {
                        o.hold().held(src, srcInfo);
                    } catch (IOException | TimeoutException | RuntimeException e) {
                        src.execute("migrate_cancel", null); // a failed hold must not leave the source frozen
                        throw e;
                    }
                    src.execute("migrate-continue", JsonNodeFactory.instance.objectNode().put("state", "pre-switchover"));
                    continued = true;
                }
            }
            if (error == null && !FINAL.contains(status)) {
                error = "the migration did not finish within " + o.timeout().toMillis() + " ms (source status " + status + ")";
                status = "timeout";
            }
            if (!src.atEof()) {
                srcInfo = src.execute("query-migrate", null);
            }
            if (error == null && !status.equals("completed")) {
                error = srcInfo.path("error-desc").asText(null);
            }
            JsonNode tgtInfo = tgt.execute("query-migrate", null);
            boolean resumedByCont = false;
            if (status.equals("completed")) {
                tgtInfo = awaitTargetRunning(o, tgt, tgtInfo, tgtEvents, deadline, progress);
                resumedByCont = tgtInfo.path("x-resumed-by-cont").asBoolean(false);
                progress.accept("target: " + (tgtInfo.has("x-target-started-ns") || resumed(tgtEvents) ? "running"
                        : "paused, waiting for cont"));
            }
            // flush: events that came before these replies are now in the clients
            src.execute("query-status", null);
            tgt.execute("query-status", null);
            srcEvents.addAll(src.drainEvents());
            tgtEvents.addAll(tgt.drainEvents());
            boolean monotonic = java.util.stream.Stream.concat(srcEvents.stream(), tgtEvents.stream())
                    .allMatch(e -> e.has(MONOTONIC_STAMP));
            collect(timeline, "source", srcEvents, monotonic, migrateNanos, migrateWallMicros);
            collect(timeline, "target", tgtEvents, monotonic, migrateNanos, migrateWallMicros);
            if (monotonic) {
                // the two stamps that define the downtime, on the same clock as the events
                if (srcInfo.has("x-source-stopped-ns")) {
                    timeline.add(new Step((srcInfo.get("x-source-stopped-ns").asLong() - migrateNanos) / 1000, "source",
                            "x-source-stopped", "last queue stopped reading (downtime starts)"));
                }
                if (tgtInfo.has("x-target-started-ns")) {
                    timeline.add(new Step((tgtInfo.get("x-target-started-ns").asLong() - migrateNanos) / 1000, "target",
                            "x-target-started", "every queue reads again (downtime ends)"));
                }
            }
            timeline.sort(Comparator.comparingLong(Step::atMicros));
            double downtime = downtimeMs(srcInfo, tgtInfo);
            if (downtime >= 0) {
                progress.accept("downtime " + formatDowntime(downtime, resumedByCont));
            }
            long wallMs = (System.nanoTime() - startNanos) / 1_000_000;
            return new Result(status, uri, o.backendTransfer(), srcInfo.path("total-time").asLong(-1), downtime,
                    srcInfo.path("setup-time").asLong(-1), error, resumedByCont, List.copyOf(timeline),
                    monotonic ? MONOTONIC : WALL, srcInfo, tgtInfo, wallMs);
        }
    }

    /**
     * After the source completed: the target resumes by itself once the source's confirmation reaches
     * it (a RESUME event); one that stays paused was started with -S (or never got the confirmation)
     * and waits for cont, sent here with {@link Options#contTarget()}. Waits on the target's events;
     * returns its final {@code query-migrate}.
     */
    private static JsonNode awaitTargetRunning(Options o, QmpClient tgt, JsonNode tgtInfo, List<JsonNode> tgtEvents,
            long deadline, Consumer<String> progress) throws TimeoutException {
        boolean targetDone = "completed".equals(tgtInfo.path("status").asText());
        boolean checked = false;
        boolean contSent = false;
        while (!tgtInfo.has("x-target-started-ns") && !resumed(tgtEvents)) {
            if (targetDone && !checked) {
                checked = true;
                String run = tgt.execute("query-status", null).path("status").asText();
                if (run.equals("running")) {
                    break;
                }
                if (run.equals("paused") && o.contTarget()) {
                    progress.accept("target: paused, sending cont");
                    tgt.execute("cont", null);
                    contSent = true;
                }
            }
            long left = deadline - System.nanoTime();
            if (targetDone && !contSent) {
                left = Math.min(left, TARGET_SELF_RESUME_NANOS);
            }
            Optional<JsonNode> next = left > 0 ? tgt.pollEvent(Duration.ofNanos(left)) : Optional.empty();
            if (next.isEmpty()) {
                break; // paused and waiting for cont, or the deadline
            }
            JsonNode event = next.get();
            tgtEvents.add(event);
            if ("MIGRATION".equals(event.path("event").asText())) {
                String st = event.path("data").path("status").asText();
                targetDone = targetDone || st.equals("completed");
                if (st.equals("failed") || st.equals("cancelled")) {
                    break;
                }
            }
        }
        return tgt.execute("query-migrate", null);
    }

    private static boolean resumed(List<JsonNode> events) {
        return events.stream().anyMatch(e -> "RESUME".equals(e.path("event").asText()));
    }

    /** The livetap member of a QMP event: the VMM's CLOCK_MONOTONIC nanoseconds when the event happened. */
    public static final String MONOTONIC_STAMP = "x-monotonic-ns";

    /**
     * The downtime (design decision 7): the target's {@code x-target-started-ns} minus the source's
     * {@code x-source-stopped-ns}, in ms rounded to the microsecond so that every place that shows it
     * shows the same figure; -1 when a stamp is missing.
     */
    public static double downtimeMs(JsonNode sourceInfo, JsonNode targetInfo) {
        if (!sourceInfo.has("x-source-stopped-ns") || !targetInfo.has("x-target-started-ns")) {
            return -1;
        }
        long nanos = targetInfo.get("x-target-started-ns").asLong() - sourceInfo.get("x-source-stopped-ns").asLong();
        return Math.round(nanos / 1000.0) / 1000.0;
    }

    /** "18.213 ms (source's last queue stop -> every target queue reading, CLOCK_MONOTONIC)": one wording everywhere. */
    public static String formatDowntime(double downtimeMs, boolean resumedByCont) {
        return String.format(java.util.Locale.ROOT, "%.3f ms (source's last queue stop -> every target queue reading, CLOCK_MONOTONIC)%s",
                downtimeMs, resumedByCont ? ", including cont" : "");
    }

    private static QmpClient connect(String side, Path path, Duration timeout) throws IOException, TimeoutException {
        try {
            return QmpClient.connect(path, timeout);
        } catch (IOException e) {
            String why = java.nio.file.Files.exists(path) ? e.getMessage() : "no such file";
            throw new IOException(side + " QMP socket " + path + ": " + why, e);
        }
    }

    /**
     * The target answers migrate-incoming before its coordinator listens (the actor describes its
     * devices first): wait, bounded, until the socket path exists.
     */
    private static void awaitListening(String uri, long deadline) throws TimeoutException {
        if (!uri.startsWith("unix:")) {
            return;
        }
        Path path = Path.of(uri.substring("unix:".length()));
        while (!java.nio.file.Files.exists(path)) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("the target did not listen at " + path + " in time");
            }
            LockSupport.parkNanos(500_000);
        }
    }

    private static boolean connectRefused(JsonNode info) {
        String desc = info.path("error-desc").asText("");
        return desc.startsWith("cannot connect") && desc.contains("ECONNREFUSED");
    }

    private static void collect(List<Step> out, String side, List<JsonNode> events, boolean monotonic, long originNanos,
            long originWallMicros) {
        for (JsonNode e : events) {
            long at = monotonic ? (e.get(MONOTONIC_STAMP).asLong() - originNanos) / 1000
                    : e.path("timestamp").path("seconds").asLong() * 1_000_000 + e.path("timestamp").path("microseconds").asLong()
                            - originWallMicros;
            String detail = e.has("data") && e.get("data").size() > 0 ? e.get("data").toString() : "";
            String name = e.path("event").asText();
            if (name.equals("MIGRATION")) {
                detail = e.path("data").path("status").asText();
            }
            out.add(new Step(at, side, name, detail));
        }
    }

    private static long nowMicros() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000 + now.getNano() / 1000;
    }

    /** The human-readable report: timeline and summary table. */
    public static String format(Result r) {
        StringBuilder sb = new StringBuilder();
        sb.append(r.timelineClock().equals(MONOTONIC)
                ? "timeline (ms after migrate was sent; the VMMs' CLOCK_MONOTONIC stamps)\n"
                : "timeline (ms after migrate was sent; the QMP events' wall-clock timestamps)\n");
        for (Step s : r.timeline()) {
            sb.append(String.format("  %10.3f  %-6s  %-16s %s%n", s.atMicros() / 1000.0, s.side(), s.event(), s.detail()));
        }
        sb.append("summary\n");
        sb.append(String.format("  %-18s %s%n", "status", r.status()));
        sb.append(String.format("  %-18s %s%n", "backend transfer", r.backendTransfer() ? "on (local)" : "off (baseline)"));
        sb.append(String.format("  %-18s %s%n", "uri", r.uri()));
        sb.append(String.format("  %-18s %s%n", "total time", r.totalMs() < 0 ? "-" : r.totalMs() + " ms"));
        sb.append(String.format("  %-18s %s%n", "setup time", r.setupMs() < 0 ? "-" : r.setupMs() + " ms"));
        sb.append(String.format("  %-18s %s%n", "downtime", r.downtimeMs() < 0 ? "-"
                : formatDowntime(r.downtimeMs(), r.resumedByCont())));
        sb.append(String.format("  %-18s %d ms%n", "wall time", r.wallMs()));
        if (r.error() != null) {
            sb.append(String.format("  %-18s %s%n", "error", r.error()));
        }
        return sb.toString();
    }

    /** {@code migrate-set-capabilities} arguments turning {@code events} on. */
    static ObjectNode eventsOn() {
        ObjectNode cap = JsonNodeFactory.instance.objectNode();
        cap.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        return cap;
    }
}
