package dev.livetap.testbed.orchestration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpConnection;
import dev.livetap.engine.qmp.QmpJson;
import dev.livetap.engine.qmp.QmpMux;
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
 * A local migration driven over QMP, as a management layer would, by one of two methods
 * ({@link Method}): {@code local} (the backend travels in the stream: migration parameter
 * {@code local}, or its alias {@code backend-transfer}, on both sides) or {@code new-tap} (the
 * target, started with {@code -S} on a TAP of its own, is continued with {@code cont} once the
 * source reports {@code completed} and the {@link NetworkSwitch} has moved the host's address and
 * MAC to the new TAP). {@link Method#AUTO} probes {@code query-migrate-parameters} and
 * {@code query-migrate-capabilities} of both VMMs. Then {@code migrate-incoming} on the target,
 * {@code migrate} on the source, and it waits on the MIGRATION, STOP and RESUME events (capability
 * {@code events} on both sides; no polling: {@code query-migrate} only for a final or held
 * status) until the source reaches a final status and (on success) the target runs again. The
 * source's {@code pause-before-switchover} is set on every run to whether the run holds: a VMM keeps
 * capabilities across migrations.
 *
 * <p>Three downtime figures, each named for what it measures: the <em>common</em> one, the
 * source's STOP event to the target's RESUME event (the QMP events' timestamps, both read from the
 * host's clock, so any two VMMs compare); the VMM's own {@code downtime} of the source's
 * {@code query-migrate}; and livetap's {@code x-target-started-ns} minus {@code x-source-stopped-ns}
 * (CLOCK_MONOTONIC, design decision 7; livetap VMMs only). The timeline is ordered by the VMMs'
 * CLOCK_MONOTONIC event stamps ({@code x-monotonic-ns}) when every event carries one, else (e.g.
 * QEMU) by the events' wall-clock timestamps. Every wait is bounded by {@link Options#timeout()}.
 */
public final class LocalMigration {
    /** How long a completed target may stay paused before it counts as waiting for cont. */
    private static final long TARGET_SELF_RESUME_NANOS = 1_000_000_000L;
    private static final Set<String> FINAL = Set.of("completed", "failed", "cancelled");
    private static final int CONNECT_REFUSED_RETRIES = 5;
    private static final long CONNECT_REFUSED_PAUSE_NANOS = 20_000_000;

    /**
     * How the NIC's backend reaches the target. {@code held-fds} (a control plane hands the same
     * open TAP queue files to the target QEMU) has a name only to be refused: it is unsafe with
     * stock QEMU (docs/qemu.md, "Methods").
     */
    public enum Method {
        /** Probe: {@link #LOCAL} when both VMMs offer {@code local} (or {@code backend-transfer}), else {@link #NEW_TAP}. */
        AUTO("auto"),
        /** Backend transfer: the TAP queue fds travel in the migration stream; no network switch. */
        LOCAL("local"),
        /** The target on a new TAP, started with {@code -S}; switch the network after {@code completed}, then {@code cont}. */
        NEW_TAP("new-tap"),
        /** Refused (see {@link #HELD_FDS_REFUSAL}). */
        HELD_FDS("held-fds");

        private final String wireName;

        Method(String wireName) {
            this.wireName = wireName;
        }

        /** The name on the command line and in the JSON. */
        public String wireName() {
            return wireName;
        }

        /** The method named {@code name} ({@code auto}, {@code local}, {@code new-tap}, {@code held-fds}). */
        public static Method parse(String name) {
            for (Method m : values()) {
                if (m.wireName.equals(name)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown method '" + name + "': auto, local or new-tap");
        }
    }

    /** Why {@link Method#HELD_FDS} is refused, in one message. */
    public static final String HELD_FDS_REFUSAL = "method held-fds is refused: with stock QEMU the target's netdev_add resets "
            + "the shared TAP device's vnet header length (12 -> 10 bytes, every frame of the running source mis-framed from "
            + "then on) and its NIC's realize detaches queues the source uses; use new-tap, or local where the VMM offers it "
            + "(docs/qemu.md, \"Methods\"; HeldFdsTest shows it)";

    /**
     * The host's side of a {@code new-tap} switch-over: move the address and MAC (and whatever
     * routes) from the old TAP to the target's new one. Runs after the source reported
     * {@code completed} and before {@code cont}; while it runs the guest is frozen.
     */
    @FunctionalInterface
    public interface NetworkSwitch {
        void switchOver() throws IOException, TimeoutException;
    }

    /**
     * @param uri              {@code unix:PATH}; null: {@link #defaultUri(Path)} next to the target's QMP socket
     * @param method           {@link Method#AUTO} probes; {@link Method#HELD_FDS} is refused here
     * @param contTarget       {@code local}: send {@code cont} to a target started paused ({@code -S}) once it completed
     *                         ({@code new-tap} always continues a paused target after the switch)
     * @param hold             null: no hold; otherwise the source gets capability {@code pause-before-switchover},
     *                         and while it waits in {@code pre-switchover} this runs, then {@code migrate-continue}
     * @param networkSwitch    {@code new-tap}: runs between {@code completed} and {@code cont}; null: nothing to switch
     * @param gate             null: none; otherwise admits the switch-over right before {@code migrate} ({@link SwitchoverGate})
     */
    public record Options(Path source, Path target, String uri, Method method, Duration timeout,
            boolean contTarget, Hold hold, NetworkSwitch networkSwitch, SwitchoverGate gate) {
        public Options {
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(target, "target");
            Objects.requireNonNull(timeout, "timeout");
            Objects.requireNonNull(method, "method");
            if (method == Method.HELD_FDS) {
                throw new IllegalArgumentException(HELD_FDS_REFUSAL);
            }
        }

        /** Probe the method, 60 s, no hold, no switch. */
        public static Options of(Path source, Path target) {
            return new Options(source, target, null, Method.AUTO, Duration.ofSeconds(60), false, null, null, null);
        }

        public Options withUri(String value) {
            return new Options(source, target, value, method, timeout, contTarget, hold, networkSwitch, gate);
        }

        public Options withMethod(Method value) {
            return new Options(source, target, uri, value, timeout, contTarget, hold, networkSwitch, gate);
        }

        /** {@link Method#LOCAL} when true, {@link Method#NEW_TAP} (the baseline) when false. */
        public Options withBackendTransfer(boolean value) {
            return withMethod(value ? Method.LOCAL : Method.NEW_TAP);
        }

        public Options withTimeout(Duration value) {
            return new Options(source, target, uri, method, value, contTarget, hold, networkSwitch, gate);
        }

        public Options withContTarget(boolean value) {
            return new Options(source, target, uri, method, timeout, value, hold, networkSwitch, gate);
        }

        public Options withHold(Hold value) {
            return new Options(source, target, uri, method, timeout, contTarget, value, networkSwitch, gate);
        }

        public Options withNetworkSwitch(NetworkSwitch value) {
            return new Options(source, target, uri, method, timeout, contTarget, hold, value, gate);
        }

        /** The switch-over admitted by {@code value} (a freeze budget): it covers {@code migrate} to the migration's end only. */
        public Options withSwitchoverGate(SwitchoverGate value) {
            return new Options(source, target, uri, method, timeout, contTarget, hold, networkSwitch, value);
        }

        public String effectiveUri() {
            return uri != null ? uri : defaultUri(target);
        }
    }

    /**
     * Admission of a switch-over (a host's freeze budget): {@link #admit} runs right before
     * {@code migrate} is sent, after the target listens and both sides' parameters and capabilities
     * are set, so that what it grants covers {@code migrate} to the target running again, not the
     * QMP set-up. It may block (the driver gives it what is left of {@link Options#timeout()});
     * throwing refuses the switch-over: no {@code migrate} is sent, the source runs on, and the
     * result's status is {@link #REFUSED}. The {@link Release} it returns is called exactly once,
     * when the migration has ended (completed and the target running, failed, cancelled, timed out,
     * or an exception).
     */
    @FunctionalInterface
    public interface SwitchoverGate {
        /**
         * @param maxWait what is left of the run's timeout: block no longer
         * @return what the driver calls once the migration has ended
         */
        Release admit(Duration maxWait) throws Exception;
    }

    /** The end of a gated migration: {@code downtimeMs} as {@link Result#downtimeMs()}, -1 when unknown (e.g. it failed). */
    @FunctionalInterface
    public interface Release {
        void ended(double downtimeMs);
    }

    /** The status of a run whose {@link SwitchoverGate} refused: no {@code migrate} was sent. */
    public static final String REFUSED = "refused";

    /** The method asked for is one the VMMs do not offer (nothing was changed on either side). */
    public static final class MethodUnavailableException extends IOException {
        public MethodUnavailableException(String message) {
            super(message);
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

    /**
     * One event of the timeline: microseconds since {@code migrate} was sent, on the clock
     * {@link Result#timelineClock()} names; {@code side} is source, target, or driver (the switch
     * and {@code cont} of {@code new-tap}).
     */
    public record Step(long atMicros, String side, String event, String detail) {
    }

    /** The timeline's clock: the VMMs' CLOCK_MONOTONIC event stamps, or the QMP events' wall-clock timestamps. */
    public static final String MONOTONIC = "monotonic";
    public static final String WALL = "wall";

    /**
     * The outcome.
     *
     * @param method          the method used ({@link Method#LOCAL} or {@link Method#NEW_TAP})
     * @param methodReason    told, or what the probe found
     * @param totalMs         the source's {@code total-time}; -1 when unknown
     * @param downtimeMs      livetap's stamps: source stop to target resume in ms, rounded to the microsecond;
     *                        -1 when unknown (failed, a paused target not continued, or a VMM without the stamps)
     * @param stopToResumeMs  the common downtime: the source's STOP event to the target's RESUME event (QMP event
     *                        timestamps, host clock), ms; -1 when either event is missing (both wall stamps then
     *                        -1); negative when a VMM stamped them out of order (a note says so)
     * @param vmmDowntimeMs   the source VMM's own {@code downtime} from {@code query-migrate}; -1 when it gave none
     * @param switchMs        {@code new-tap}: how long the {@link NetworkSwitch} took; -1 when none ran
     * @param stopWallMicros  the source's STOP event timestamp (µs since the epoch); -1 when none
     * @param resumeWallMicros the target's RESUME event timestamp (µs since the epoch); -1 when none
     * @param notes           what the driver noticed and did not count as an error
     * @param timelineClock   {@link #MONOTONIC} or {@link #WALL}: what orders {@code timeline}
     * @param sourceInfo the source's final {@code query-migrate}; {@code targetInfo} the target's
     */
    public record Result(String status, String uri, Method method, String methodReason, long totalMs, double downtimeMs,
            double stopToResumeMs, double vmmDowntimeMs, double switchMs, long stopWallMicros, long resumeWallMicros,
            long setupMs, String error, boolean resumedByCont, List<String> notes, List<Step> timeline, String timelineClock,
            JsonNode sourceInfo, JsonNode targetInfo, long wallMs) {
        public Result {
            notes = List.copyOf(notes);
            timeline = List.copyOf(timeline);
        }

        /** The source reached {@code completed}. */
        public boolean completed() {
            return "completed".equals(status);
        }

        /** Completed, and nothing after it failed (a {@code new-tap} switch or {@code cont}). */
        public boolean succeeded() {
            return completed() && error == null;
        }

        public boolean backendTransfer() {
            return method == Method.LOCAL;
        }

        /** One JSON object (the {@code --json} output of {@code livetap migrate}). */
        public ObjectNode toJson() {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            o.put("status", status);
            o.put("uri", uri);
            o.put("method", method.wireName());
            o.put("method_reason", methodReason);
            o.put("backend_transfer", backendTransfer());
            o.put("total_ms", totalMs);
            o.put("stop_to_resume_ms", stopToResumeMs);
            o.put("vmm_downtime_ms", vmmDowntimeMs);
            o.put("downtime_ms", downtimeMs);
            o.put("switch_ms", switchMs);
            o.put("setup_ms", setupMs);
            o.put("resumed_by_cont", resumedByCont);
            o.put("stop_wall_us", stopWallMicros);
            o.put("resume_wall_us", resumeWallMicros);
            o.put("wall_ms", wallMs);
            if (error != null) {
                o.put("error", error);
            }
            var n = o.putArray("notes");
            notes.forEach(n::add);
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
     * @throws MethodUnavailableException when {@code local} was asked for and a VMM does not offer it
     *                                    (nothing changed on either side)
     * @throws IOException when a QMP socket cannot be reached
     * @throws TimeoutException when a QMP reply does not come in time
     */
    public static Result run(Options o, Consumer<String> progress) throws IOException, TimeoutException {
        return run(o, progress, Hooks.NONE);
    }

    /**
     * {@link #run(Options, Consumer)} with {@code hooks} called at their points of the run (the chaos
     * runner injects its faults there).
     */
    public static Result run(Options o, Consumer<String> progress, Hooks hooks) throws IOException, TimeoutException {
        String uri = o.effectiveUri();
        long startNanos = System.nanoTime();
        long deadline = startNanos + o.timeout().toNanos();
        Duration replyTimeout = o.timeout().compareTo(Duration.ofSeconds(15)) < 0 ? o.timeout() : Duration.ofSeconds(15);
        try (QmpClient src = connect("source", o.source(), replyTimeout);
                QmpClient tgt = connect("target", o.target(), replyTimeout)) {
            src.negotiate();
            tgt.negotiate();
            LocalSwitch srcLocal = LocalSwitch.offeredBy(src);
            LocalSwitch tgtLocal = LocalSwitch.offeredBy(tgt);
            Method method;
            String reason;
            if (o.method() == Method.AUTO) {
                method = srcLocal != null && tgtLocal != null ? Method.LOCAL : Method.NEW_TAP;
                reason = method == Method.LOCAL ? "probed: both VMMs offer " + srcLocal.describe()
                        : "probed: " + (srcLocal == null ? "the source" : "the target")
                                + " offers no local or backend-transfer migration parameter or capability";
            } else {
                method = o.method();
                reason = "told";
            }
            if (method == Method.LOCAL && (srcLocal == null || tgtLocal == null)) {
                throw new MethodUnavailableException("method local: the " + (srcLocal == null ? "source" : "target")
                        + " VMM offers no local or backend-transfer migration parameter or capability "
                        + "(query-migrate-parameters, query-migrate-capabilities); use new-tap");
            }
            progress.accept("method " + method.wireName() + " (" + reason + ")");
            // a VMM that can carry its backend must be told which way it goes; one that cannot needs nothing
            if (srcLocal != null) {
                srcLocal.set(src, method == Method.LOCAL);
            }
            if (tgtLocal != null) {
                tgtLocal.set(tgt, method == Method.LOCAL);
            }
            setSourceCapabilities(src, o.hold() != null);
            tgt.execute("migrate-set-capabilities", eventsOn());
            ObjectNode incoming = JsonNodeFactory.instance.objectNode().put("uri", uri);
            if (hooks.targetStaysAfterFailure()) {
                incoming.put("exit-on-error", false); // QEMU >= 9.1 and livetap; QEMU 7.2 knows no such argument
            }
            tgt.execute("migrate-incoming", incoming);
            progress.accept("target: migrate-incoming " + uri);
            awaitListening(uri, deadline);
            hooks.call(() -> hooks.beforeMigrate(uri));
            OnceRelease release;
            try {
                release = OnceRelease.admitted(o.gate(), deadline);
            } catch (Exception refused) {
                if (refused instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                progress.accept("switch-over gate refused: " + refused.getMessage() + " (no migrate sent)");
                return refusedByGate(uri, method, reason, refused, src, tgt, startNanos);
            }
            try {
                return migrateAndFollow(o, progress, hooks, uri, method, reason, src, tgt, deadline, startNanos, release);
            } finally {
                release.end(-1); // an exception, or a return before the end was told: the place is given back once
            }
        }
    }

    /** {@link #run}'s part from {@code migrate} on; {@code release} is told the end (once) as soon as it is known. */
    private static Result migrateAndFollow(Options o, Consumer<String> progress, Hooks hooks, String uri, Method method,
            String reason, QmpClient src, QmpClient tgt, long deadline, long startNanos, OnceRelease release)
            throws IOException, TimeoutException {
        long migrateWallMicros = nowMicros();
        long migrateNanos = System.nanoTime(); // CLOCK_MONOTONIC, as the VMMs' stamps
        String error = null;
        try {
            src.execute("migrate", JsonNodeFactory.instance.objectNode().put("uri", uri));
        } catch (QmpException e) {
            error = e.desc();
        }
        progress.accept("source: migrate " + uri + (error == null ? "" : " refused: " + error));
        hooks.call(() -> hooks.afterMigrate(uri));
        List<Step> timeline = new ArrayList<>();
        List<DriverStep> driverSteps = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        if (method == Method.LOCAL && o.networkSwitch() != null) {
            notes.add("method local moves no network: the switch given was not run");
        }
        List<JsonNode> srcEvents = new ArrayList<>();
        List<JsonNode> tgtEvents = new ArrayList<>();
        String status = error == null ? "setup" : "failed";
        JsonNode srcInfo = JsonNodeFactory.instance.objectNode();
        int refusedRetries = 0;
        boolean continued = false;
        // a plain local run: from the source's active to the target's RESUME the driver hears the target alone
        boolean quietSwitchover = method == Method.LOCAL && o.hold() == null && !hooks.sidesMayDie();
        boolean targetSettled = false;
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
            long at = event.has(MONOTONIC_STAMP) ? event.get(MONOTONIC_STAMP).asLong() : System.nanoTime();
            progress.accept(String.format("source: %-10s (%.1f ms after migrate was sent)", status, (at - migrateNanos) / 1e6));
            if (status.equals("active") && quietSwitchover) {
                quietSwitchover = false;
                // The source's STOP, device and completed fall inside the downtime; read as they come, each
                // woke this JVM's reactor and caller threads there (9f11f9b's bench read only the target:
                // docs/benchmarks.md, "h21b"). They wait in the socket and are read right after.
                src.holdReading();
                targetSettled = awaitTargetSwitchover(o, tgt, tgtEvents, deadline);
                continue;
            }
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
        if (hooks.sidesMayDie()) {
            Result settled = settleBothSides(o, uri, method, reason, status, error, src, tgt, srcEvents, tgtEvents, deadline,
                    startNanos);
            release.end(settled.completed() && settled.error() == null ? settled.downtimeMs() : -1);
            return settled;
        }
        if (status.equals("completed") && method == Method.LOCAL && !targetSettled) {
            awaitTargetSwitchover(o, tgt, tgtEvents, deadline);
        }
        if (!src.atEof()) {
            srcInfo = src.execute("query-migrate", null);
        }
        if (error == null && !status.equals("completed")) {
            error = srcInfo.path("error-desc").asText(null);
        }
        JsonNode tgtInfo = tgt.execute("query-migrate", null);
        boolean resumedByCont = false;
        double switchMs = -1;
        if (status.equals("completed") && method == Method.NEW_TAP) {
            NewTapOutcome n = switchAndContinue(o, tgt, tgtInfo, tgtEvents, deadline, progress, driverSteps, notes);
            tgtInfo = n.targetInfo();
            switchMs = n.switchMs();
            resumedByCont = n.resumedByCont();
            error = n.error();
        } else if (status.equals("completed")) {
            tgtInfo = awaitTargetRunning(o, tgt, tgtInfo, tgtEvents, deadline, progress);
            resumedByCont = tgtInfo.path("x-resumed-by-cont").asBoolean(false);
            boolean running = tgtInfo.has("x-target-started-ns") || resumed(tgtEvents);
            progress.accept("target: " + (running ? "running" : "paused, waiting for cont"));
            if (running) {
                awaitResumeEvent(tgt, tgtEvents, deadline);
            }
        }
        // the migration has ended (the target runs again, or it failed): the gate's place goes back before the wrap-up
        release.end(status.equals("completed") && error == null ? downtimeMs(srcInfo, tgtInfo) : -1);
        // flush: events that came before these replies are now in the clients
        src.execute("query-status", null);
        tgt.execute("query-status", null);
        srcEvents.addAll(src.drainEvents());
        tgtEvents.addAll(tgt.drainEvents());
        boolean monotonic = java.util.stream.Stream.concat(srcEvents.stream(), tgtEvents.stream())
                .allMatch(e -> e.has(MONOTONIC_STAMP));
        collect(timeline, "source", srcEvents, monotonic, migrateNanos, migrateWallMicros);
        collect(timeline, "target", tgtEvents, monotonic, migrateNanos, migrateWallMicros);
        for (DriverStep d : driverSteps) {
            long at = monotonic ? (d.nanos() - migrateNanos) / 1000 : d.wallMicros() - migrateWallMicros;
            timeline.add(new Step(at, "driver", d.event(), d.detail()));
        }
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
        long stopWall = status.equals("completed") ? lastWallMicros(srcEvents, "STOP") : -1;
        // the target's client is this run's own: its first RESUME is the one that ends the freeze
        long resumeWall = stopWall < 0 ? -1 : firstWallMicros(tgtEvents, "RESUME");
        double stopToResume = stopWall >= 0 && resumeWall >= 0 ? (resumeWall - stopWall) / 1000.0 : -1;
        if (stopToResume < 0 && stopWall >= 0 && resumeWall >= 0) {
            notes.add("the target's RESUME is stamped before the source's STOP: a VMM stamps its events late "
                    + "(livetap stamps a QMP event when it writes it); stop -> resume is negative");
        }
        if (stopToResume >= 0) {
            progress.accept(String.format(java.util.Locale.ROOT, "stop -> resume %.3f ms (source STOP to target RESUME, QMP event timestamps)",
                    stopToResume));
        }
        if (status.equals("completed") && srcInfo.path("total-time").asLong(0) <= 0 && !src.atEof()) {
            // QEMU sends "completed" before it computes total-time and downtime: ask again, this much later
            srcInfo = src.execute("query-migrate", null);
        }
        double vmmDowntime = srcInfo.has("downtime") ? srcInfo.get("downtime").asDouble() : -1;
        long wallMs = (System.nanoTime() - startNanos) / 1_000_000;
        return new Result(status, uri, method, reason, srcInfo.path("total-time").asLong(-1), downtime, stopToResume,
                vmmDowntime, switchMs, stopWall, resumeWall, srcInfo.path("setup-time").asLong(-1), error, resumedByCont,
                notes, timeline, monotonic ? MONOTONIC : WALL, srcInfo, tgtInfo, wallMs);
    }

    /** A gate's {@link Release}, told at most once (no gate: nothing to tell). */
    private static final class OnceRelease {
        private final Release release;
        private boolean ended;

        private OnceRelease(Release release) {
            this.release = release;
        }

        /** Runs the gate (null: admitted at once), giving it what is left until {@code deadline}. */
        static OnceRelease admitted(SwitchoverGate gate, long deadline) throws Exception {
            if (gate == null) {
                return new OnceRelease(null);
            }
            Release r = gate.admit(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            return new OnceRelease(Objects.requireNonNull(r, "the switch-over gate returned no release"));
        }

        void end(double downtimeMs) {
            if (!ended) {
                ended = true;
                if (release != null) {
                    release.ended(downtimeMs);
                }
            }
        }
    }

    /** The result of a run whose gate refused: nothing was sent to the source, both sides' {@code query-migrate} as they are. */
    private static Result refusedByGate(String uri, Method method, String reason, Exception refused, QmpClient src, QmpClient tgt,
            long startNanos) throws TimeoutException {
        JsonNode srcInfo = src.execute("query-migrate", null);
        JsonNode tgtInfo = tgt.execute("query-migrate", null);
        return new Result(REFUSED, uri, method, reason, -1, -1, -1, -1, -1, -1, -1, -1,
                "switch-over gate refused: " + refused.getMessage(), false,
                List.of("no migrate was sent: the source runs on; the target was sent migrate-incoming and still listens"),
                List.of(), WALL, srcInfo, tgtInfo, (System.nanoTime() - startNanos) / 1_000_000);
    }

    /** A step the driver took itself ({@code new-tap}'s switch and {@code cont}), stamped on both clocks. */
    private record DriverStep(long nanos, long wallMicros, String event, String detail) {
        static DriverStep now(String event, String detail) {
            return new DriverStep(System.nanoTime(), nowMicros(), event, detail);
        }
    }

    private record NewTapOutcome(JsonNode targetInfo, double switchMs, boolean resumedByCont, String error) {
    }

    /**
     * {@code new-tap} after the source completed: wait (on events) for the target's
     * {@code completed}, run the switch, then {@code cont} a paused target and wait for its RESUME.
     * A target that resumed by itself (started without {@code -S}) ran on the new TAP before the
     * switch: noted, not an error. A failed switch leaves the target paused and is the error.
     */
    private static NewTapOutcome switchAndContinue(Options o, QmpClient tgt, JsonNode tgtInfo, List<JsonNode> tgtEvents,
            long deadline, Consumer<String> progress, List<DriverStep> steps, List<String> notes) throws TimeoutException {
        boolean done = "completed".equals(tgtInfo.path("status").asText());
        while (!done) {
            long left = deadline - System.nanoTime();
            Optional<JsonNode> next = left > 0 ? tgt.pollEvent(Duration.ofNanos(left)) : Optional.empty();
            if (next.isEmpty()) {
                return new NewTapOutcome(tgt.execute("query-migrate", null), -1, false,
                        "the target did not report completed within " + o.timeout().toMillis() + " ms");
            }
            tgtEvents.add(next.get());
            if ("MIGRATION".equals(next.get().path("event").asText())) {
                String st = next.get().path("data").path("status").asText();
                done = st.equals("completed");
                if (st.equals("failed") || st.equals("cancelled")) {
                    return new NewTapOutcome(tgt.execute("query-migrate", null), -1, false, "the target's migration " + st);
                }
            }
        }
        String run = tgt.execute("query-status", null).path("status").asText();
        boolean paused = !run.equals("running") && !resumed(tgtEvents);
        if (!paused) {
            notes.add("the target resumed by itself before the network switch (start a new-tap target with -S)");
        }
        double switchMs = -1;
        if (o.networkSwitch() != null) {
            steps.add(DriverStep.now("switch", "network switch starts"));
            long t0 = System.nanoTime();
            try {
                o.networkSwitch().switchOver();
            } catch (IOException | TimeoutException | RuntimeException e) {
                steps.add(DriverStep.now("switch", "failed: " + e.getMessage()));
                progress.accept("driver: network switch failed: " + e.getMessage() + (paused ? " (target left paused)" : ""));
                return new NewTapOutcome(tgt.execute("query-migrate", null), (System.nanoTime() - t0) / 1e6, false,
                        "network switch failed: " + e.getMessage() + (paused ? "; the target stays paused" : ""));
            }
            switchMs = (System.nanoTime() - t0) / 1e6;
            steps.add(DriverStep.now("switch", String.format(java.util.Locale.ROOT, "network switched (%.1f ms)", switchMs)));
            progress.accept(String.format(java.util.Locale.ROOT, "driver: network switched in %.1f ms", switchMs));
        } else {
            notes.add("no network switch given: cont follows completed at once");
        }
        boolean contSent = false;
        if (paused) {
            steps.add(DriverStep.now("cont", "sent to the target"));
            tgt.execute("cont", null);
            contSent = true;
            progress.accept("target: cont");
        }
        awaitResumeEvent(tgt, tgtEvents, deadline);
        String error = resumed(tgtEvents) ? null : "the target sent no RESUME event in time";
        progress.accept("target: " + (error == null ? "running" : "not resumed"));
        return new NewTapOutcome(tgt.execute("query-migrate", null), switchMs, contSent, error);
    }

    /**
     * The source reports {@code completed} when it receives {@code loaded}; the target's switch-over
     * goes on until its confirmation arrives and its queues read again. Until then this driver sends
     * neither VMM a command: a {@code query-migrate} there is work for both VMMs inside the downtime
     * (on the target a VM-actor message ahead of its resume), and this driver used to send two there
     * in about a third of the hops (docs/benchmarks.md, "Downtime A/B of the merged main"). Waits on
     * the target's events alone: until its RESUME or a failed/cancelled status; with
     * {@link Options#contTarget()}, until its {@code completed} (a -S target needs its cont at once);
     * otherwise at most {@link #TARGET_SELF_RESUME_NANOS} after {@code completed}, and as long when
     * the target reports nothing (a VMM without events, or one still receiving), after which the
     * callers ask as before. A plain local run calls it from the source's {@code active} on, with the
     * source's socket left unread, and again at the source's {@code completed} only when it returned
     * unsettled.
     *
     * @return true when the target settled (resumed, failed, cancelled, completed and given its grace,
     *         or its connection ended); false when it reported nothing before {@code completed} in time
     */
    private static boolean awaitTargetSwitchover(Options o, QmpClient tgt, List<JsonNode> tgtEvents, long deadline) {
        long until = Math.min(deadline, System.nanoTime() + TARGET_SELF_RESUME_NANOS);
        boolean completed = false;
        while (!resumed(tgtEvents)) {
            long left = until - System.nanoTime();
            Optional<JsonNode> next = left > 0 ? tgt.pollEvent(Duration.ofNanos(left)) : Optional.empty();
            if (next.isEmpty()) {
                return completed || tgt.atEof();
            }
            JsonNode event = next.get();
            tgtEvents.add(event);
            if ("MIGRATION".equals(event.path("event").asText())) {
                String st = event.path("data").path("status").asText();
                if (st.equals("failed") || st.equals("cancelled") || st.equals("completed") && o.contTarget()) {
                    return true;
                }
                if (st.equals("completed")) {
                    completed = true;
                    until = Math.min(deadline, System.nanoTime() + TARGET_SELF_RESUME_NANOS);
                }
            }
        }
        return true;
    }

    /** Waits (on events, bounded) until the target's RESUME has been received. */
    private static void awaitResumeEvent(QmpClient tgt, List<JsonNode> tgtEvents, long deadline) {
        while (!resumed(tgtEvents)) {
            long left = deadline - System.nanoTime();
            Optional<JsonNode> next = left > 0 ? tgt.pollEvent(Duration.ofNanos(Math.min(left, TARGET_SELF_RESUME_NANOS)))
                    : Optional.empty();
            if (next.isEmpty()) {
                return;
            }
            tgtEvents.add(next.get());
        }
    }

    /** The QMP event's {@code timestamp} in µs since the epoch. */
    static long wallMicros(JsonNode event) {
        JsonNode ts = event.path("timestamp");
        return ts.path("seconds").asLong() * 1_000_000 + ts.path("microseconds").asLong();
    }

    private static long lastWallMicros(List<JsonNode> events, String name) {
        long at = -1;
        for (JsonNode e : events) {
            if (name.equals(e.path("event").asText())) {
                at = wallMicros(e);
            }
        }
        return at;
    }

    private static long firstWallMicros(List<JsonNode> events, String name) {
        for (JsonNode e : events) {
            if (name.equals(e.path("event").asText())) {
                return wallMicros(e);
            }
        }
        return -1;
    }

    /**
     * Where a VMM offers backend transfer: a migration parameter or capability named {@code local}
     * (or the v10 alias {@code backend-transfer}). Absent: the VMM cannot carry its backend.
     */
    private record LocalSwitch(boolean parameter, String name) {
        private static final List<String> NAMES = List.of("local", "backend-transfer");

        static LocalSwitch offeredBy(QmpClient q) throws TimeoutException {
            JsonNode params = q.execute("query-migrate-parameters", null);
            for (String n : NAMES) {
                if (params.has(n)) {
                    return new LocalSwitch(true, n);
                }
            }
            JsonNode caps = q.execute("query-migrate-capabilities", null);
            for (String n : NAMES) {
                for (JsonNode c : caps) {
                    if (n.equals(c.path("capability").asText())) {
                        return new LocalSwitch(false, n);
                    }
                }
            }
            return null;
        }

        void set(QmpClient q, boolean on) throws TimeoutException {
            if (parameter) {
                q.execute("migrate-set-parameters", JsonNodeFactory.instance.objectNode().put(name, on));
            } else {
                ObjectNode args = JsonNodeFactory.instance.objectNode();
                args.putArray("capabilities").addObject().put("capability", name).put("state", on);
                q.execute("migrate-set-capabilities", args);
            }
        }

        String describe() {
            return "migration " + (parameter ? "parameter " : "capability ") + name;
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
                    : wallMicros(e) - originWallMicros;
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

    /**
     * Where a caller acts during a run: {@link #run(Options, Consumer, Hooks)} calls each on the
     * driver's thread, the events of both sides keep arriving meanwhile (the clients buffer them).
     */
    public interface Hooks {
        /** A plain run. */
        Hooks NONE = new Hooks() {
        };

        /** After {@code migrate-incoming} answered and the socket path exists; before {@code migrate}. */
        default void beforeMigrate(String uri) throws Exception {
        }

        /** Right after {@code migrate} answered (accepted or refused). */
        default void afterMigrate(String uri) throws Exception {
        }

        /**
         * True: either VMM may die or freeze during the run. The driver then waits, after the source's
         * final status (or its end), for the target's final status (or its end) too, bounded by the
         * run's timeout, and reports a dead side's info as an empty object (no timeline, no
         * {@code cont}: the caller applies its own ownership rules).
         */
        default boolean sidesMayDie() {
            return false;
        }

        /**
         * True: {@code migrate-incoming} with {@code exit-on-error=false}, so that a target whose
         * incoming migration failed stays (status {@code failed}) for the caller to reuse; false: the
         * VMM's default (QEMU >= 9.1 and livetap exit).
         */
        default boolean targetStaysAfterFailure() {
            return false;
        }

        private void call(Callable action) throws IOException, TimeoutException {
            try {
                action.run();
            } catch (IOException | TimeoutException | RuntimeException e) {
                throw e;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted in a hook of the migration", e);
            } catch (Exception e) {
                throw new IOException("a hook of the migration failed: " + e, e);
            }
        }

        /** A hook's body. */
        @FunctionalInterface
        interface Callable {
            void run() throws Exception;
        }
    }

    /**
     * The end of a run whose sides may die ({@link Hooks#sidesMayDie()}): the target's events until
     * its final status or its end (bounded by {@code deadline}), then each live side's {@code query-migrate}.
     */
    private static Result settleBothSides(Options o, String uri, Method method, String reason, String status, String error, QmpClient src, QmpClient tgt,
            List<JsonNode> srcEvents, List<JsonNode> tgtEvents, long deadline, long startNanos) {
        String targetStatus = "none";
        while (!FINAL.contains(targetStatus) && !tgt.atEof()) {
            long left = deadline - System.nanoTime();
            Optional<JsonNode> next = left > 0 ? tgt.pollEvent(Duration.ofNanos(left)) : Optional.empty();
            if (next.isEmpty()) {
                break;
            }
            tgtEvents.add(next.get());
            if ("MIGRATION".equals(next.get().path("event").asText())) {
                targetStatus = next.get().path("data").path("status").asText("none");
            }
        }
        JsonNode srcInfo = infoOfLiveSide(src);
        JsonNode tgtInfo = infoOfLiveSide(tgt);
        if (error == null && !status.equals("completed")) {
            error = srcInfo.path("error-desc").asText(null);
        }
        double downtime = downtimeMs(srcInfo, tgtInfo);
        double vmmDowntime = srcInfo.has("downtime") ? srcInfo.get("downtime").asDouble() : -1;
        return new Result(status, uri, method, reason, srcInfo.path("total-time").asLong(-1), downtime, -1, vmmDowntime, -1,
                -1, -1, srcInfo.path("setup-time").asLong(-1), error, tgtInfo.path("x-resumed-by-cont").asBoolean(false),
                List.of("a side may have died: no timeline"), List.of(), WALL, srcInfo, tgtInfo,
                (System.nanoTime() - startNanos) / 1_000_000);
    }

    /** {@code query-migrate} of a side that may be gone or frozen: an empty object when it does not answer. */
    private static JsonNode infoOfLiveSide(QmpClient side) {
        if (side.atEof()) {
            return JsonNodeFactory.instance.objectNode();
        }
        try {
            return side.execute("query-migrate", null);
        } catch (TimeoutException | RuntimeException gone) {
            return JsonNodeFactory.instance.objectNode();
        }
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
        sb.append(String.format("  %-18s %s (%s)%n", "method", r.method().wireName(), r.methodReason()));
        sb.append(String.format("  %-18s %s%n", "backend transfer", r.backendTransfer() ? "on (local)" : "off (new TAP, baseline)"));
        sb.append(String.format("  %-18s %s%n", "uri", r.uri()));
        sb.append(String.format("  %-18s %s%n", "total time", r.totalMs() < 0 ? "-" : r.totalMs() + " ms"));
        sb.append(String.format("  %-18s %s%n", "setup time", r.setupMs() < 0 ? "-" : r.setupMs() + " ms"));
        sb.append(String.format(java.util.Locale.ROOT, "  %-18s %s%n", "stop -> resume", r.stopToResumeMs() < 0 ? "-"
                : String.format(java.util.Locale.ROOT, "%.3f ms (source STOP event -> target RESUME event, QMP timestamps)%s",
                        r.stopToResumeMs(), r.resumedByCont() ? ", including the switch and cont" : "")));
        sb.append(String.format(java.util.Locale.ROOT, "  %-18s %s%n", "vmm downtime", r.vmmDowntimeMs() < 0 ? "-"
                : String.format(java.util.Locale.ROOT, "%.0f ms (the source's query-migrate downtime)", r.vmmDowntimeMs())));
        sb.append(String.format("  %-18s %s%n", "downtime", r.downtimeMs() < 0 ? "-"
                : formatDowntime(r.downtimeMs(), r.resumedByCont())));
        if (r.switchMs() >= 0) {
            sb.append(String.format(java.util.Locale.ROOT, "  %-18s %.1f ms%n", "network switch", r.switchMs()));
        }
        for (String note : r.notes()) {
            sb.append(String.format("  %-18s %s%n", "note", note));
        }
        sb.append(String.format("  %-18s %d ms%n", "wall time", r.wallMs()));
        if (r.error() != null) {
            sb.append(String.format("  %-18s %s%n", "error", r.error()));
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ many migrations at once

    /**
     * Retries of a batch migration's {@code migrate} refused because its target had bound but not
     * yet listened (the batch starts hundreds of targets at once: more than {@link #run}'s few).
     */
    public static final int BATCH_CONNECT_RETRIES = 100;

    /**
     * Sends one migration's set-up on multiplexed connections, the same commands as {@link #run}:
     * {@code local} and capability {@code events} on both sides, {@code migrate-incoming} on the
     * target. Each of the {@value #SET_UP_COMMANDS} replies goes to {@code onReply}.
     */
    public static void sendSetUp(QmpMux.Conn source, QmpMux.Conn target, String uri, Consumer<QmpConnection.Reply> onReply) {
        target.send("migrate-set-capabilities", eventsOn(), onReply);
        target.send("migrate-set-parameters", QmpJson.object().put("local", true), onReply);
        target.send("migrate-incoming", QmpJson.object().put("uri", uri), onReply);
        source.send("migrate-set-capabilities", eventsOn(), onReply);
        source.send("migrate-set-parameters", QmpJson.object().put("local", true), onReply);
    }

    /** The replies {@link #sendSetUp} asks for. */
    public static final int SET_UP_COMMANDS = 5;

    /**
     * What a batch saw of one migration, on CLOCK_MONOTONIC (the VMMs' event stamps; 0: not seen).
     * It ended when the source reported MIGRATION {@code completed} and the target RESUME.
     */
    public record BatchMigration(long migrateSentNs, long migrateReplyNs, long sourceActiveNs, long sourceCompletedNs,
            long targetCompletedNs, long targetResumedNs, int connectRetries, boolean ended, String failure) {
        public long endNs() {
            return Math.max(sourceCompletedNs, targetResumedNs);
        }
    }

    /**
     * A batch's outcome: the migrations in order, the first {@code migrate} written ({@code t0}), the
     * last one written ({@code issued}, 0 if not all were), the last end seen ({@code windowEnd}), the
     * first few failures and, when the bound struck, how many were still open ({@code unfinished}).
     */
    public record BatchResult(List<BatchMigration> migrations, long t0, long issued, long windowEnd, int completed,
            List<String> failures, String unfinished) {
    }

    /**
     * The batch entry point of this driver: migrations {@code from..to-1} of already set-up pairs
     * ({@link #sendSetUp}, the targets listening) at once on one {@link QmpMux}, as a control plane
     * drives many VMs: every {@code migrate} written without waiting (at most {@code inFlight} between
     * their {@code migrate} and their end; each end lets the next one go), then the MIGRATION/RESUME
     * events are dispatched until each migration ended or failed, bounded by {@code timeout} from
     * the first write. A {@code migrate} refused before the target listened is sent again (bounded).
     */
    public static BatchResult runBatch(QmpMux mux, QmpMux.Conn[] src, QmpMux.Conn[] tgt, String[] uris, int from, int to,
            int inFlight, Duration timeout) throws IOException {
        final class Tracker {
            long migrateSentNs;
            long migrateReplyNs;
            long sourceActiveNs;
            long sourceCompletedNs;
            long targetCompletedNs;
            long targetResumedNs;
            int connectRetries;
            boolean ended;
            String failure;
        }
        int count = to - from;
        Tracker[] vms = new Tracker[count];
        for (int i = 0; i < count; i++) {
            vms[i] = new Tracker();
        }
        long[] issued = {0};
        int[] open = {count};
        List<Consumer<QmpConnection.Reply>> onMigrateReply = new ArrayList<>();
        int[] next = {0};
        Runnable startNext = () -> {
            if (next[0] < count) {
                int k = next[0]++;
                vms[k].migrateSentNs = System.nanoTime();
                src[from + k].send("migrate", QmpJson.object().put("uri", uris[from + k]), onMigrateReply.get(k));
                if (next[0] == count) {
                    issued[0] = System.nanoTime();
                }
            }
        };
        for (int k = 0; k < count; k++) {
            Tracker vm = vms[k];
            QmpMux.Conn sc = src[from + k];
            QmpMux.Conn tc = tgt[from + k];
            String uri = uris[from + k];
            Runnable endIfDone = () -> {
                if (!vm.ended && vm.failure == null && vm.sourceCompletedNs != 0 && vm.targetResumedNs != 0) {
                    vm.ended = true;
                    open[0]--;
                    startNext.run();
                }
            };
            Consumer<String> fail = why -> {
                if (!vm.ended && vm.failure == null) {
                    vm.failure = why;
                    open[0]--;
                    startNext.run();
                }
            };
            Consumer<QmpConnection.Reply> onMigrate = r -> {
                vm.migrateReplyNs = r.receivedNs();
                if (!r.ok()) {
                    fail.accept("migrate: " + r.error());
                }
            };
            onMigrateReply.add(onMigrate);
            sc.onEvent(e -> {
                if (!e.event().equals("MIGRATION")) {
                    return;
                }
                switch (e.status()) {
                    case "active" -> vm.sourceActiveNs = vm.sourceActiveNs == 0 ? e.ns() : vm.sourceActiveNs;
                    case "completed" -> {
                        vm.sourceCompletedNs = e.ns();
                        endIfDone.run();
                    }
                    case "failed", "cancelled" -> sc.send("query-migrate", null, q -> {
                        String error = q.ok() ? q.value().path("error-desc").asText() : q.error();
                        // refused between the target's bind(2) and listen(2): nothing stopped yet, migrate again
                        if (error.startsWith("cannot connect") && vm.connectRetries < BATCH_CONNECT_RETRIES
                                && vm.sourceActiveNs == 0) {
                            vm.connectRetries++;
                            mux.later(2_000_000L, () -> sc.send("migrate", QmpJson.object().put("uri", uri), onMigrate));
                        } else {
                            fail.accept("source " + e.status() + ": " + error);
                        }
                    });
                    default -> {
                        // setup, device: progress only
                    }
                }
            });
            tc.onEvent(e -> {
                if (e.event().equals("RESUME")) {
                    vm.targetResumedNs = e.ns();
                    endIfDone.run();
                } else if (e.event().equals("MIGRATION")) {
                    if (e.status().equals("completed")) {
                        vm.targetCompletedNs = e.ns();
                    } else if (e.status().equals("failed") || e.status().equals("cancelled")) {
                        tc.send("query-migrate", null, q -> fail.accept("target " + e.status() + ": "
                                + (q.ok() ? q.value().path("error-desc").asText() : q.error())));
                    }
                }
            });
        }
        long t0 = System.nanoTime();
        for (int k = 0; k < Math.min(inFlight, count); k++) {
            startNext.run();
        }
        String unfinished = null;
        try {
            mux.pump(t0 + timeout.toNanos(), () -> open[0] == 0, "the end of " + count + " migrations");
        } catch (QmpMux.TimeoutException e) {
            unfinished = open[0] + " migration(s) not ended within " + timeout.toMillis() + " ms";
        }
        long windowEnd = t0;
        int completed = 0;
        List<String> failures = new ArrayList<>();
        List<BatchMigration> out = new ArrayList<>(count);
        for (Tracker vm : vms) {
            BatchMigration m = new BatchMigration(vm.migrateSentNs, vm.migrateReplyNs, vm.sourceActiveNs, vm.sourceCompletedNs,
                    vm.targetCompletedNs, vm.targetResumedNs, vm.connectRetries, vm.ended, vm.failure);
            out.add(m);
            if (m.ended()) {
                completed++;
                windowEnd = Math.max(windowEnd, m.endNs());
            } else if (m.failure() != null && failures.size() < 5) {
                failures.add(m.failure());
            }
        }
        for (int k = 0; k < count; k++) { // later events of these VMs are not this batch's
            src[from + k].onEvent(e -> { });
            tgt[from + k].onEvent(e -> { });
        }
        return new BatchResult(List.copyOf(out), t0, issued[0], windowEnd, completed, List.copyOf(failures), unfinished);
    }

    /**
     * The source's capabilities in one {@code migrate-set-capabilities}: {@code events} on (MIGRATION events are
     * what the driver waits on: QEMU and livetap send them only with it) and {@code pause-before-switchover} as
     * this run wants it. A VMM keeps capabilities across migrations, so a source held by an earlier run would
     * otherwise stop in {@code pre-switchover} and wait for a {@code migrate-continue} nobody sends. A VMM that
     * does not know the capability refuses the call naming it; without a hold it is then sent without it.
     */
    private static void setSourceCapabilities(QmpClient src, boolean hold) throws TimeoutException {
        ObjectNode both = eventsOn();
        ((ArrayNode) both.get("capabilities")).addObject()
                .put("capability", PAUSE_BEFORE_SWITCHOVER).put("state", hold);
        try {
            src.execute("migrate-set-capabilities", both);
        } catch (QmpException e) {
            if (hold || e.desc() == null || !e.desc().contains(PAUSE_BEFORE_SWITCHOVER)) {
                throw e;
            }
            src.execute("migrate-set-capabilities", eventsOn()); // a VMM that cannot hold needs nothing turned off
        }
    }

    private static final String PAUSE_BEFORE_SWITCHOVER = "pause-before-switchover";

    /** {@code migrate-set-capabilities} arguments turning {@code events} on. */
    static ObjectNode eventsOn() {
        ObjectNode cap = JsonNodeFactory.instance.objectNode();
        cap.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        return cap;
    }
}
