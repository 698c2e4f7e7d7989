package dev.livetap.actors.migration;

import dev.livetap.actors.RoutineLog;
import dev.livetap.actors.FanOut;
import dev.livetap.actors.migration.MigrationCoordinator.Command;
import dev.livetap.actors.migration.MigrationCoordinator.Nic;
import dev.livetap.actors.migration.MigrationCoordinator.Progress;
import dev.livetap.actors.migration.MigrationCoordinator.Report;
import dev.livetap.actors.migration.MigrationEvents.FanOutTimedOut;
import dev.livetap.actors.migration.MigrationEvents.PhaseTimedOut;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.MonotonicClock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.function.BiFunction;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * What both migration roles share and never change: the actor's context and timers, whom they
 * report to, the NICs, the clock and the limits; and the helpers that act on them (status reports,
 * phase timers, gathers over the NICs).
 */
record RoleContext(ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<Report> report, String id,
        List<Nic> nics, MonotonicClock clock, MigrationTimeouts timeouts, ActorRef<VirtioNetActor.DeviceReply> nicReplies) {

    static final String PHASE = "phase";
    static final String SWITCHOVER = "switchover";

    RoleContext {
        nics = List.copyOf(nics);
    }

    static RoleContext of(ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<Report> report, String id,
            List<Nic> nics, MonotonicClock clock, MigrationTimeouts timeouts) {
        // one adapter for every NIC reply: this actor has no other adapter it could take messages from
        ActorRef<VirtioNetActor.DeviceReply> replies = ctx.messageAdapter(VirtioNetActor.DeviceReply.class,
                MigrationEvents.NicReply::new);
        for (Nic n : nics) {
            ctx.watch(n.ref());
        }
        return new RoleContext(ctx, timers, report, id, nics, clock, timeouts, replies);
    }

    /** The figures of a migration so far: when it started, when it went active, what was reported last. */
    record Figures(long startedAt, long activeAt, MigrationInfo info) {
        static Figures start(String id, long now) {
            return new Figures(now, -1, new MigrationInfo(id, MigrationStatus.NONE, -1, -1, -1, null, 0, 0, false));
        }

        Figures with(MigrationInfo next) {
            return new Figures(startedAt, activeAt, next);
        }
    }

    /** Reports status {@code s}; the figures it reported. */
    Figures status(Figures f, MigrationStatus s) {
        long activeAt = s == MigrationStatus.ACTIVE && f.activeAt() < 0 ? clock.nanos() : f.activeAt();
        long now = clock.nanos();
        MigrationInfo info = new MigrationInfo(id, s, activeAt < 0 ? -1 : ms(activeAt - f.startedAt()),
                f.info().downtimeMs(), ms(now - f.startedAt()), f.info().errorDesc(), f.info().sourceStoppedNanos(),
                f.info().targetStartedNanos(), false);
        RoutineLog.info(ctx.getLog(), "migration {}: status {}", id, s.qmpName());
        report.tell(new Progress(info));
        return new Figures(f.startedAt(), activeAt, info);
    }

    static long ms(long nanos) {
        return Math.max(0, nanos / 1_000_000);
    }

    void phaseTimer(String phase, Duration d) {
        timers.startSingleTimer(PHASE, new PhaseTimedOut(phase, d.toMillis()), d);
    }

    /** One request to every NIC, gathered with one step's timeout. */
    <R> FanOut<R> askNics(long firstRequestId, String what, Class<R> replyType,
            BiFunction<Nic, Long, VirtioNetActor.Command> request) {
        List<String> names = nics.stream().map(Nic::deviceId).toList();
        List<ActorRef<VirtioNetActor.Command>> refs = nics.stream().map(Nic::ref).toList();
        return FanOut.scatter(what, replyType, firstRequestId, names, refs,
                (i, requestId) -> request.apply(nics.get(i), requestId), timers, timeouts.step(), FanOutTimedOut::new);
    }

    /** One request to one NIC (sections load one at a time). */
    <R> FanOut<R> askNic(long requestId, int index, String what, Class<R> replyType,
            BiFunction<Nic, Long, VirtioNetActor.Command> request) {
        Nic nic = nics.get(index);
        return FanOut.scatter(what, replyType, requestId, List.of(nic.deviceId()), List.of(nic.ref()),
                (i, id) -> request.apply(nic, id), timers, timeouts.step(), FanOutTimedOut::new);
    }

    /** The text of a gather that timed out, as users have always seen it. */
    static String failureText(FanOut<?> f) {
        return f.timedOut().message(f.names().size() == 1);
    }

    /** A reply no open gather owns: late (after a timeout or a failure), dropped. */
    void dropLate(VirtioNetActor.DeviceReply r) {
        ctx.getLog().debug("migration {}: late reply {} of {} (request {}) dropped", id, r.getClass().getSimpleName(),
                r.deviceId(), r.requestId());
    }

    /**
     * Closes the channel once {@code lastFrame} is in the kernel (closing at once would drop it),
     * or after one step's timeout if the peer does not read.
     */
    void closeAfter(FrameChannel channel, CompletionStage<Void> lastFrame) {
        lastFrame.whenComplete((v, ex) -> channel.close());
        ctx.getSystem().scheduler().scheduleOnce(timeouts.step(), channel::close, ctx.getExecutionContext());
    }
}
