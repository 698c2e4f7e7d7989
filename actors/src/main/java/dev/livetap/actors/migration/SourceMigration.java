package dev.livetap.actors.migration;

import dev.livetap.actors.migration.SourceStates.Ending;
import dev.livetap.actors.migration.SourceStates.Role;
import dev.livetap.actors.migration.SourceStates.SwitchOver;
import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.Receive;
import dev.livetap.actors.RoutineLog;
import dev.livetap.actors.FanOut;
import dev.livetap.actors.StateName;
import dev.livetap.actors.migration.MigrationCoordinator.Cancel;
import dev.livetap.actors.migration.MigrationCoordinator.Command;
import dev.livetap.actors.migration.MigrationCoordinator.ContinueSwitchover;
import dev.livetap.actors.migration.MigrationCoordinator.Finished;
import dev.livetap.actors.migration.MigrationCoordinator.GetState;
import dev.livetap.actors.migration.MigrationCoordinator.Nic;
import dev.livetap.actors.migration.MigrationCoordinator.Progress;
import dev.livetap.actors.migration.MigrationCoordinator.Report;
import dev.livetap.actors.migration.MigrationCoordinator.RunStateChange;
import dev.livetap.actors.migration.MigrationCoordinator.SourceSetup;
import dev.livetap.actors.migration.MigrationEvents.ChannelFailed;
import dev.livetap.actors.migration.MigrationEvents.Connected;
import dev.livetap.actors.migration.MigrationEvents.FanOutTimedOut;
import dev.livetap.actors.migration.MigrationEvents.NicReply;
import dev.livetap.actors.migration.MigrationEvents.PhaseTimedOut;
import dev.livetap.actors.migration.MigrationEvents.ReturnClosed;
import dev.livetap.actors.migration.MigrationEvents.ReturnFrame;
import dev.livetap.actors.migration.MigrationEvents.ReturnPathHandler;
import dev.livetap.actors.migration.MigrationEvents.RolledBack;
import dev.livetap.actors.migration.MigrationEvents.SectionIn;
import dev.livetap.actors.migration.MigrationEvents.StepFailed;
import dev.livetap.actors.migration.MigrationEvents.StreamSendFailed;
import dev.livetap.actors.migration.MigrationEvents.StreamSent;
import dev.livetap.actors.migration.MigrationEvents.StreamStarted;
import dev.livetap.actors.migration.MigrationEvents.SwitchoverLimitExceeded;
import dev.livetap.actors.migration.RoleContext.Figures;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.options.RunState;
import dev.livetap.codec.Section;
import dev.livetap.codec.pekko.MigrationStreamFlows;
import dev.livetap.nativeio.FrameChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The source role of one migration. States, each a behaviour carrying an immutable record:
 * {@code settingUp → streamStarting → stopping → (held →) saving → awaitingLoaded → completed},
 * and from any of them {@code rollingBack} (or straight to the end before the queues stopped).
 * QEMU's statuses: {@code setup → active → device → completed} (with {@code pause-before-switchover}
 * {@code active → pre-switchover → device}); a failure before {@code loaded} rolls back: channel
 * closed, the queues paused with their fds, status {@code failed} (or {@code cancelling → cancelled}).
 */
final class SourceMigration {
    private SourceMigration() {
    }

    static Behavior<Command> create(SourceSetup setup, ActorRef<Report> report) {
        // The migration id is in the MDC while the role starts and in each state's dispatch (Receive.build(id)),
        // not through a withMdc interceptor: one interceptor less on every message of the switch-over.
        return Behaviors.supervise(Behaviors.<Command>setup(ctx -> Behaviors.withTimers(timers -> MigrationMdc.with(setup.migrationId(), () -> {
                    RoleContext rc = RoleContext.of(ctx, timers, report, setup.migrationId(), setup.nics(),
                            setup.clock(), setup.timeouts());
                    Figures f = Figures.start(setup.migrationId(), setup.clock().nanos());
                    // created at setup, not in the switch-over: creating one spawns an actor (profile-switchover.md)
                    Role role = new Role(rc, setup, Materializer.createMaterializer(ctx), new CompletableFuture<>(),
                            new CompletableFuture<>());
                    return settingUp(role, rc.status(f, MigrationStatus.SETUP));
                })))).onFailure(MigrationCoordinator.SUPERVISION);
    }

    private static Behavior<Command> settingUp(Role role, Figures f) {
        RoleContext rc = role.rc();
        rc.phaseTimer("connecting to " + role.setup().uri().uri(), rc.timeouts().channel());
        SourceSetup setup = role.setup();
        rc.ctx().pipeToSelf(setup.uri() instanceof MigrationUri.Unix unix ? setup.transport().connect(unix)
                        : setup.transport().adopt(setup.socket().orElseThrow()),
                (ch, ex) -> ex == null ? new Connected(ch) : new ChannelFailed(ex));
        return common(role, Optional.empty(), Receive.of(Command.class)
                .onMessage(GetState.class, m -> stateIs(m, "settingUp"))
                .onMessage(Connected.class, m -> {
                    m.channel().start(new ReturnPathHandler(rc.ctx().getSelf()));
                    Figures active = rc.status(f, MigrationStatus.ACTIVE);
                    startStream(role, m.channel());
                    return streamStarting(role, active, m.channel());
                })
                .onMessage(ChannelFailed.class, m -> fail(role, f, null, 1, "cannot connect to "
                        + role.setup().uri().uri() + ": " + m.cause().getMessage(), false, false))
                .onMessage(PhaseTimedOut.class, m -> fail(role, f, null, 1, m.text(), false, false))
                .onMessage(Cancel.class, m -> fail(role, f, null, 1, "cancelled", true, false))
                .onMessage(ReturnFrame.class, m -> {
                    m.frame().close();
                    return fail(role, f, null, 1, "the target answered before the stream was sent", false, false);
                })
                .onMessage(ReturnClosed.class, m -> fail(role, f, null, 1, closedText(m.cause()), false, false)),
                r -> fail(role, f, null, 1, r, false, false));
    }

    /**
     * The VM keeps running until the stream has started and its header is on its way: a stream
     * starts on other threads (an actor spawn, its first scheduling), which cost 1-2 ms of
     * downtime when the stop came first (profile-switchover.md, third round).
     */
    private static Behavior<Command> streamStarting(Role role, Figures f, FrameChannel channel) {
        RoleContext rc = role.rc();
        rc.phaseTimer("starting the migration stream", rc.timeouts().step());
        Function<String, Behavior<Command>> failed = r -> fail(role, f, channel, 1, r, false, false);
        return common(role, Optional.of(channel), Receive.of(Command.class)
                .onMessage(GetState.class, m -> stateIs(m, "streamStarting"))
                .onMessage(StreamStarted.class, m -> stopping(role, f, channel))
                .onMessage(StreamSendFailed.class, m -> failed.apply(sendFailedText(m)))
                .onMessage(ReturnFrame.class, m -> onAnswer(m, failed,
                        a -> failed.apply("the target answered " + a + " before the stream was sent")))
                .onMessage(ReturnClosed.class, m -> failed.apply(closedText(m.cause())))
                .onMessage(PhaseTimedOut.class, m -> failed.apply(m.text()))
                .onMessage(Cancel.class, m -> fail(role, f, channel, 1, "cancelled", true, false)), failed);
    }

    /**
     * The stream runs before the VM stops: its header leaves at once (as QEMU's does at the start
     * of a migration) and materializing it stays out of the downtime (profile-switchover.md).
     */
    private static void startStream(Role role, FrameChannel channel) {
        ActorRef<Command> self = role.rc().ctx().getSelf();
        CompletionStage<Done> sent = MigrationStreamFlows.onStreamDispatcher(Source.completionStage(role.sectionsToSend())
                .mapConcat(list -> list)
                .via(MigrationStreamFlows.encoder(role.setup().header()))
                .zipWithIndex()
                .map(p -> {
                    if (p.second() == 0) { // the encoder's first frame: the header
                        self.tell(new StreamStarted());
                    }
                    return p.first();
                })
                .toMat(MigrationStreamFlows.toChannel(channel), Keep.right())).run(role.materializer());
        sent.whenComplete((done, ex) -> {
            // told, not piped: a piped result that reaches a role stopped from outside is a dead letter Pekko logs
            role.streamEnded().complete(null);
            self.tell(ex == null ? new StreamSent() : new StreamSendFailed(ex));
        });
    }

    /**
     * VM stop, then save: every queue stops reading on a frame boundary (the last one marks the
     * downtime start) and saves its state. The save is asked right behind the stop, without
     * waiting for the stop's answers: each NIC and each queue handles its requests in order, so
     * every queue is stopped before it saves, and one round of messages leaves the downtime
     * (docs/profile-switchover.md). The sections go out only once every queue has stopped.
     * With {@code pause-before-switchover} nothing is saved before {@code migrate-continue}:
     * frames that reach the TAP during the hold stay in its kernel queue.
     */
    private static Behavior<Command> stopping(Role role, Figures f, FrameChannel channel) {
        RoleContext rc = role.rc();
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.SOURCE, "stop queues");
        rc.report().tell(new RunStateChange(rc.id(), RunState.FINISH_MIGRATE));
        rc.phaseTimer("stopping the queues", rc.timeouts().step());
        FanOut<VirtioNetActor.Stopped> stop = rc.askNics(1, "stop", VirtioNetActor.Stopped.class,
                (nic, id) -> new VirtioNetActor.Stop(id, rc.nicReplies().narrow(), rc.id()));
        SwitchOver s = new SwitchOver(f, channel, stop.nextRequestId(), Optional.of(stop), 0, Optional.empty(),
                Optional.empty());
        if (!role.setup().pauseBeforeSwitchover()) {
            s = askSave(role, s);
        }
        return stop.complete() ? stopped(role, s, stop.gathered()) : switchOver(role, s);
    }

    private static SwitchOver askSave(Role role, SwitchOver s) {
        SwitchoverStepEvent.step(role.rc(), SwitchoverStepEvent.SOURCE, "save asked");
        FanOut<VirtioNetActor.SaveResult> save = role.rc().askNics(s.nextRequestId(), "save", VirtioNetActor.SaveResult.class,
                (nic, id) -> new VirtioNetActor.SaveSection(id, nic.backendTravels(), role.rc().nicReplies().narrow(),
                        role.rc().id()));
        return save.complete() ? saved(role, s.withSave(Optional.of(save), Optional.empty()), save.gathered())
                : s.withSave(Optional.of(save), Optional.empty());
    }

    /** Every queue stopped. */
    private static Behavior<Command> stopped(Role role, SwitchOver s, List<VirtioNetActor.Stopped> rs) {
        RoleContext rc = role.rc();
        long last = 0;
        for (VirtioNetActor.Stopped r : rs) {
            last = Math.max(last, r.lastStopNanos());
        }
        long stoppedAt = last == 0 ? rc.clock().nanos() : last;
        SwitchoverStepEvent.step(rc.id(), SwitchoverStepEvent.SOURCE, "queues stopped (last stop)", stoppedAt);
        MigrationInfo i = s.figures().info();
        Figures f = s.figures().with(new MigrationInfo(rc.id(), i.status(), i.setupTimeMs(), -1, i.totalTimeMs(), null,
                stoppedAt, 0, false));
        if (role.setup().pauseBeforeSwitchover()) {
            rc.timers().cancel(RoleContext.PHASE); // management holds as long as it likes (QEMU waits without a limit)
            Figures held = rc.status(f, MigrationStatus.PRE_SWITCHOVER);
            startSwitchoverLimit(role, stoppedAt);
            return held(role, s.withFigures(held).withStop(Optional.empty(), stoppedAt));
        }
        Figures device = rc.status(f, MigrationStatus.DEVICE);
        startSwitchoverLimit(role, stoppedAt);
        rc.phaseTimer("saving the device state", rc.timeouts().step());
        SwitchOver next = s.withFigures(device).withStop(Optional.empty(), stoppedAt);
        next.saved().ifPresent(sections -> send(role, sections));
        return switchOver(role, next);
    }

    /** Every NIC answered the save: the sections, or a failure told to this actor. */
    private static SwitchOver saved(Role role, SwitchOver s, List<VirtioNetActor.SaveResult> rs) {
        List<Section> sections = new ArrayList<>();
        for (VirtioNetActor.SaveResult r : rs) {
            if (r instanceof VirtioNetActor.SectionSaveFailed failed) {
                role.rc().ctx().getSelf().tell(new StepFailed("saving", "saving " + failed.deviceId() + " failed: "
                        + failed.reason()));
                return s.withSave(Optional.empty(), Optional.empty());
            }
            sections.add(((VirtioNetActor.SectionSaved) r).section());
        }
        SwitchoverStepEvent.step(role.rc(), SwitchoverStepEvent.SOURCE, "sections saved");
        if (s.stop().isEmpty()) { // every queue stopped already
            send(role, sections);
        }
        return s.withSave(Optional.empty(), Optional.of(sections));
    }

    private static void send(Role role, List<Section> sections) {
        SwitchoverStepEvent.step(role.rc(), SwitchoverStepEvent.SOURCE, "send");
        role.rc().phaseTimer("sending the migration stream", role.rc().timeouts().stream());
        role.sectionsToSend().complete(sections);
    }

    /**
     * {@code x-switchover-limit} counts from the stop, as QEMU's downtime does: a hold in
     * {@code pre-switchover} counts against it (the guest is frozen all along).
     */
    private static void startSwitchoverLimit(Role role, long stoppedAt) {
        long limit = role.setup().parameters().switchoverLimitMs();
        if (limit > 0) {
            long left = limit * 1_000_000 - (role.rc().clock().nanos() - stoppedAt);
            role.rc().timers().startSingleTimer(RoleContext.SWITCHOVER, new SwitchoverLimitExceeded(limit),
                    Duration.ofNanos(Math.max(0, left)));
        }
    }

    /**
     * {@code pre-switchover}: the queues are stopped and keep their fds, nothing is saved, the
     * stream has sent its header only. {@code migrate-continue} goes on with the switch-over; a
     * cancel or any failure rolls back as before the stop.
     */
    private static Behavior<Command> held(Role role, SwitchOver s) {
        RoleContext rc = role.rc();
        return switchOverCommon(role, s, Receive.of(Command.class)
                .onMessage(ContinueSwitchover.class, m -> {
                    if (s.figures().info().status() != MigrationStatus.PRE_SWITCHOVER) {
                        return Behaviors.same(); // the stop is not complete yet
                    }
                    Figures device = rc.status(s.figures(), MigrationStatus.DEVICE);
                    rc.phaseTimer("saving the device state", rc.timeouts().step());
                    return switchOver(role, askSave(role, s.withFigures(device)));
                })
                .onMessage(ReturnClosed.class, m -> s.figures().info().status() == MigrationStatus.PRE_SWITCHOVER
                        ? heldWithoutTarget(role, s, closedText(m.cause())) : fail(role, s, closedText(m.cause()), false))
                .onMessage(ReturnFrame.class, m -> onAnswer(m, r -> fail(role, s, r, false),
                        a -> fail(role, s, "the target answered " + a + " before the stream was sent", false))));
    }

    /**
     * Held in {@code pre-switchover} after the channel closed (the target died): as QEMU, whose
     * migration thread waits on its semaphore until {@code migrate-continue} or a cancel, the source
     * stays held, stopped, with its queues and their fds; {@code migrate-continue} then goes on to
     * {@code device} and fails at once with what happened to the channel (rolled back as any failure).
     */
    private static Behavior<Command> heldWithoutTarget(Role role, SwitchOver s, String reason) {
        RoleContext rc = role.rc();
        rc.ctx().getLog().warn("migration {}: {} while held in pre-switchover; the source stays held until"
                + " migrate-continue or migrate_cancel", rc.id(), reason);
        return switchOverCommon(role, s, Receive.of(Command.class)
                .onMessage(ContinueSwitchover.class, m -> fail(role, s.withFigures(rc.status(s.figures(), MigrationStatus.DEVICE)),
                        reason, false))
                .onMessage(ReturnClosed.class, m -> Behaviors.same())
                .onMessage(StreamSendFailed.class, m -> Behaviors.same()) // the same closed channel, told twice
                .onMessage(ReturnFrame.class, m -> lateStreamEvent(rc, m)));
    }

    /**
     * Stopping, saving or awaiting {@code loaded} (which of them: the gathers still open in
     * {@code s}). A hold before the stop is complete ignores {@code migrate-continue} (the VM checks
     * the status first).
     */
    private static Behavior<Command> switchOver(Role role, SwitchOver s) {
        RoleContext rc = role.rc();
        return switchOverCommon(role, s, Receive.of(Command.class)
                .onMessage(StreamSent.class, m -> {
                    SwitchoverStepEvent.step(rc, SwitchoverStepEvent.SOURCE, "stream sent");
                    RoutineLog.info(rc.ctx().getLog(), "migration {}: stream sent, waiting for the target's answer", rc.id());
                    rc.phaseTimer("waiting for the target's answer (return path)", rc.timeouts().returnPath());
                    return Behaviors.same();
                })
                .onMessage(ReturnFrame.class, m -> onAnswer(m, r -> fail(role, s, r, false), a -> completed(role, s, a))));
    }

    /** What every state of the switch-over handles alike: NIC replies, failures, cancel. */
    private static Behavior<Command> switchOverCommon(Role role, SwitchOver s, Receive<Command> b) {
        RoleContext rc = role.rc();
        return common(role, Optional.of(s.channel()), b
                .onMessage(GetState.class, m -> stateIs(m, s.stop().isPresent() ? "stopping"
                        : role.setup().pauseBeforeSwitchover() && s.save().isEmpty() && s.saved().isEmpty() ? "held"
                        : s.saved().isEmpty() ? "saving" : "awaitingLoaded"))
                .onMessage(NicReply.class, m -> {
                    long id = m.reply().requestId();
                    if (s.stop().isPresent() && s.stop().get().owns(id)) {
                        FanOut.Outcome<VirtioNetActor.Stopped> o = s.stop().get().offer(id, m.reply(), rc.timers());
                        if (o instanceof FanOut.Waiting<VirtioNetActor.Stopped> w) {
                            return next(role, s.withStop(Optional.of(w.next()), 0));
                        }
                        return o instanceof FanOut.Gathered<VirtioNetActor.Stopped> g ? stopped(role, s, g.replies()) : late(rc, m);
                    }
                    if (s.save().isPresent() && s.save().get().owns(id)) {
                        FanOut.Outcome<VirtioNetActor.SaveResult> o = s.save().get().offer(id, m.reply(), rc.timers());
                        if (o instanceof FanOut.Waiting<VirtioNetActor.SaveResult> w) {
                            return next(role, s.withSave(Optional.of(w.next()), Optional.empty()));
                        }
                        return o instanceof FanOut.Gathered<VirtioNetActor.SaveResult> g ? next(role, saved(role, s, g.replies()))
                                : late(rc, m);
                    }
                    return late(rc, m);
                })
                .onMessage(FanOutTimedOut.class, m -> {
                    Optional<? extends FanOut<?>> f = s.stop().filter(x -> x.firstRequestId() == m.firstRequestId());
                    if (f.isEmpty()) {
                        f = s.save().filter(x -> x.firstRequestId() == m.firstRequestId());
                    }
                    f.ifPresent(x -> rc.ctx().getSelf().tell(new StepFailed(x.what(), RoleContext.failureText(x))));
                    return Behaviors.same();
                })
                .onMessage(StreamSendFailed.class, m -> s.stop().isEmpty() && s.save().isEmpty()
                        ? afterSendFailed(role, s, sendFailedText(m)) : fail(role, s, sendFailedText(m), false))
                .onMessage(ReturnClosed.class, m -> fail(role, s, closedText(m.cause()), false))
                .onMessage(PhaseTimedOut.class, m -> fail(role, s, m.text(), false))
                .onMessage(SwitchoverLimitExceeded.class, m -> fail(role, s, m.text(), false))
                .onMessage(StepFailed.class, m -> fail(role, s, m.description(), false))
                .onMessage(Cancel.class, m -> fail(role, s, "cancelled", true)), r -> fail(role, s, r, false));
    }

    /**
     * The stream could not be sent (the target closed its end): a target that could still speak said
     * why before it closed, and that frame may come after the send failure. It is read first, bounded
     * by the step timeout; only when nothing readable comes does the send failure stand.
     */
    private static Behavior<Command> afterSendFailed(Role role, SwitchOver s, String sendFailure) {
        RoleContext rc = role.rc();
        rc.phaseTimer("reading the target's answer after the send failed", rc.timeouts().step());
        return switchOverCommon(role, s, Receive.of(Command.class)
                .onMessage(ReturnFrame.class, m -> onAnswer(m, r -> fail(role, s, r, false), a -> fail(role, s, sendFailure, false)))
                .onMessage(ReturnClosed.class, m -> fail(role, s, sendFailure, false))
                .onMessage(PhaseTimedOut.class, m -> fail(role, s, sendFailure, false))
                .onMessage(StreamSendFailed.class, m -> Behaviors.same()));
    }

    /** The same state with the record {@code s}: held until the stop is complete, else switching over. */
    private static Behavior<Command> next(Role role, SwitchOver s) {
        return role.setup().pauseBeforeSwitchover() && s.save().isEmpty() && s.saved().isEmpty()
                ? held(role, s) : switchOver(role, s);
    }

    private static Behavior<Command> lateStreamEvent(RoleContext rc, Command m) {
        rc.ctx().getLog().debug("migration {}: late {} ignored", rc.id(), m.getClass().getSimpleName());
        return Behaviors.same();
    }

    private static Behavior<Command> late(RoleContext rc, NicReply m) {
        rc.dropLate(m.reply());
        return Behaviors.same();
    }

    /** An unreadable frame or the target's {@code failed} ends the migration; any other answer goes to {@code then}. */
    private static Behavior<Command> onAnswer(ReturnFrame m, Function<String, Behavior<Command>> failed,
            Function<ReturnPath.Answer, Behavior<Command>> then) {
        ReturnPath.Answer a;
        try {
            a = ReturnPath.decode(m.frame());
        } catch (IllegalArgumentException e) {
            return failed.apply("bad return-path frame: " + e.getMessage());
        }
        if (a instanceof ReturnPath.Failed f) {
            return failed.apply("the target failed to load the migration: " + f.reason());
        }
        return then.apply(a);
    }

    private static String closedText(Throwable cause) {
        return "the migration channel closed before the target answered" + (cause == null ? "" : ": " + cause.getMessage());
    }

    private static String sendFailedText(StreamSendFailed m) {
        return "sending the migration stream failed: " + m.cause().getMessage();
    }

    /** {@code loaded}: confirm to the target, release the queues, report completed. */
    private static Behavior<Command> completed(Role role, SwitchOver s, ReturnPath.Answer a) {
        RoleContext rc = role.rc();
        if (!(a instanceof ReturnPath.Loaded)) {
            return fail(role, s, "the target answered with " + a + " instead of loaded", false);
        }
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.SOURCE, "loaded received");
        rc.timers().cancelAll();
        // The target waits for this confirmation to resume: it goes first, the bookkeeping after
        // (the source's queues stopped long ago and nothing below can roll back any more).
        rc.closeAfter(s.channel(), s.channel().send(ReturnPath.completed(role.setup().vmRunning()), List.of()));
        boolean handedOver = false;
        for (Nic n : rc.nics()) {
            // a backend that stayed is kept, paused, until the VM ends (QEMU closes its TAP only then)
            if (n.backendTravels()) {
                n.ref().tell(new VirtioNetActor.Release(rc.id()));
                handedOver = true;
            }
        }
        long now = rc.clock().nanos();
        MigrationInfo info = new MigrationInfo(rc.id(), MigrationStatus.COMPLETED, s.figures().info().setupTimeMs(),
                RoleContext.ms(now - s.stoppedAt()), RoleContext.ms(now - s.figures().startedAt()), null, s.stoppedAt(), 0, false);
        rc.report().tell(new RunStateChange(rc.id(), RunState.POSTMIGRATE));
        RoutineLog.info(rc.ctx().getLog(), "migration {}: status completed (downtime {} ms on the source side)", rc.id(), info.downtimeMs());
        rc.report().tell(new Progress(info));
        rc.report().tell(new Finished(info, true, handedOver, true));
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.SOURCE, "completed");
        if (role.streamRunning(true)) {
            return ended(role, "completed", true);
        }
        // Nothing left to wait for: the role stops here, not one message (Ended) later, beside the target's resume
        // (docs/benchmarks.md). Its PostStop is this no-op, not the state's before, which would close the channel
        // before 'completed' is in the kernel (closeAfter closes it); the close's ReturnClosed is a suppressed dead letter.
        return Behaviors.stopped(() -> { });
    }

    private static Behavior<Command> fail(Role role, SwitchOver s, String reason, boolean cancelled) {
        return fail(role, s.figures(), s.channel(), s.nextRequestId(), reason, cancelled, true);
    }

    /** Roll back: channel closed (the target sees it and closes what it received), queues paused with their fds. */
    private static Behavior<Command> fail(Role role, Figures f, FrameChannel channel, long nextRequestId, String reason,
            boolean cancelled, boolean queuesStopped) {
        RoleContext rc = role.rc();
        rc.timers().cancelAll();
        rc.ctx().getLog().warn("migration {}: {}", rc.id(), reason);
        Figures now = cancelled ? rc.status(f, MigrationStatus.CANCELLING) : f;
        // The target must hear it: one that already answered loaded would otherwise take the TAP.
        if (channel != null && channel.isOpen()) {
            rc.closeAfter(channel, channel.send(ReturnPath.failed(reason), List.of()));
        } else if (channel != null) {
            channel.close();
        }
        // a stream still waiting for sections ends (after 'failed' is out: it is on its way already)
        role.sectionsToSend().completeExceptionally(new CancellationException(reason));
        MigrationStatus end = cancelled ? MigrationStatus.CANCELLED : MigrationStatus.FAILED;
        String desc = cancelled ? null : reason;
        if (!queuesStopped) {
            return finish(role, new Ending(now, end, desc, false, Optional.empty(), channel != null), null);
        }
        rc.phaseTimer("rolling back", rc.timeouts().step());
        FanOut<VirtioNetActor.RolledBack> rollback = rc.askNics(nextRequestId, "rollback", VirtioNetActor.RolledBack.class,
                (nic, id) -> new VirtioNetActor.Rollback(id, rc.nicReplies().narrow(), rc.id()));
        if (rollback.complete()) {
            rc.ctx().getSelf().tell(new RolledBack());
        }
        return rollingBack(role, new Ending(now, end, desc, true, Optional.of(rollback).filter(r -> !r.complete()),
                channel != null));
    }

    private static Behavior<Command> rollingBack(Role role, Ending e) {
        RoleContext rc = role.rc();
        return common(role, Optional.empty(), Receive.of(Command.class)
                .onMessage(GetState.class, m -> stateIs(m, "rollingBack"))
                .onMessage(NicReply.class, m -> {
                    if (e.rollback().isEmpty()) {
                        return late(rc, m);
                    }
                    FanOut.Outcome<VirtioNetActor.RolledBack> o = e.rollback().get().offer(m.reply().requestId(), m.reply(),
                            rc.timers());
                    if (o instanceof FanOut.Waiting<VirtioNetActor.RolledBack> w) {
                        return rollingBack(role, e.withRollback(Optional.of(w.next())));
                    }
                    if (o instanceof FanOut.Gathered) {
                        rc.ctx().getSelf().tell(new RolledBack());
                        return rollingBack(role, e.withRollback(Optional.empty()));
                    }
                    return late(rc, m);
                })
                .onMessage(FanOutTimedOut.class, m -> {
                    e.rollback().filter(r -> r.firstRequestId() == m.firstRequestId()).ifPresent(r -> rc.ctx().getSelf()
                            .tell(new StepFailed("rolling back", RoleContext.failureText(r))));
                    return Behaviors.same();
                })
                .onMessage(RolledBack.class, m -> finish(role, e, null))
                .onMessage(PhaseTimedOut.class, m -> finish(role, e, m.text()))
                // a failure told before this one (a save that failed, a gather that timed out) is a rollback problem
                .onMessage(StepFailed.class, m -> finish(role, e, m.description()))
                .onMessage(Cancel.class, m -> Behaviors.same()), r -> Behaviors.same());
    }

    private static Behavior<Command> finish(Role role, Ending e, String rollbackProblem) {
        RoleContext rc = role.rc();
        rc.timers().cancelAll();
        String error = rollbackProblem == null ? e.desc() : (e.desc() == null ? "" : e.desc() + "; ") + rollbackProblem;
        long now = rc.clock().nanos();
        MigrationInfo i = e.figures().info();
        MigrationInfo info = new MigrationInfo(rc.id(), e.end(), i.setupTimeMs(), -1, RoleContext.ms(now - e.figures().startedAt()),
                error, i.sourceStoppedNanos(), 0, false);
        if (e.queuesStopped()) {
            rc.report().tell(new RunStateChange(rc.id(), RunState.PAUSED));
        }
        RoutineLog.info(rc.ctx().getLog(), "migration {}: status {}{}", rc.id(), e.end().qmpName(), error == null ? "" : " (" + error + ")");
        rc.report().tell(new Progress(info));
        rc.report().tell(new Finished(info, false, false, false));
        return e.queuesStopped() && !role.streamRunning(e.streamStarted()) ? Behaviors.stopped()
                : ended(role, "ended", e.streamStarted());
    }

    /**
     * The end, with the channel handed to {@link RoleContext#closeAfter} (or closed): stopping from
     * a state that owns the channel would close it at once in its {@code PostStop} and drop the
     * last frame, so the actor stops from here, one message later - or, while the stream still
     * runs, once its end is told (bounded by the step timeout: the channel is closed, so it ends).
     */
    private static Behavior<Command> ended(Role role, String state, boolean streamStarted) {
        RoleContext rc = role.rc();
        if (role.streamRunning(streamStarted)) {
            rc.phaseTimer("ending the migration stream", rc.timeouts().step());
        } else {
            rc.ctx().getSelf().tell(new MigrationEvents.Ended());
        }
        return common(role, Optional.empty(), Receive.of(Command.class)
                .onMessage(GetState.class, m -> stateIs(m, state))
                .onMessage(MigrationEvents.Ended.class, m -> Behaviors.stopped())
                .onMessage(StreamSent.class, m -> Behaviors.stopped())
                .onMessage(StreamSendFailed.class, m -> Behaviors.stopped())
                .onMessage(PhaseTimedOut.class, m -> {
                    rc.ctx().getLog().debug("migration {}: stopping before the stream told its end", rc.id());
                    return Behaviors.stopped();
                })
                .onMessage(ReturnClosed.class, m -> Behaviors.same()), r -> Behaviors.same()); // closeAfter's own close
    }

    static Behavior<Command> stateIs(GetState m, String state) {
        m.replyTo().tell(new StateName(state));
        return Behaviors.same();
    }

    /**
     * What every state handles alike: frames and sections no state expects are closed, the
     * stream's late progress is dropped (DEBUG), anything else is unhandled (a dead-letter notice); a NIC that stops fails the migration; a stop from outside closes the
     * channel this state still owns.
     */
    private static Behavior<Command> common(Role role, Optional<FrameChannel> owned, Receive<Command> b,
            Function<String, Behavior<Command>> onNicStopped) {
        RoleContext rc = role.rc();
        return b.onMessage(ReturnFrame.class, m -> {
                    m.frame().close(); // a frame no state expects: never leak its fds
                    return Behaviors.same();
                })
                .onMessage(SectionIn.class, m -> {
                    m.section().close();
                    return Behaviors.same();
                })
                .onMessage(NicReply.class, m -> late(rc, m))
                // the stream's progress told after the state that waited for it (a failure came first)
                .onMessage(StreamStarted.class, m -> lateStreamEvent(rc, m))
                .onMessage(StreamSent.class, m -> lateStreamEvent(rc, m))
                .onMessage(StreamSendFailed.class, m -> lateStreamEvent(rc, m))
                .onAnyMessage(m -> {
                    // not this state's: Pekko publishes it as unhandled (logged as a dead letter), the state does not change
                    rc.ctx().getLog().debug("migration {}: {} not handled in this state", rc.id(), m.getClass().getSimpleName());
                    return Behaviors.unhandled();
                })
                .onSignal(PostStop.class, signal -> {
                    owned.ifPresent(FrameChannel::close); // stopped from outside (VM shutdown)
                    return Behaviors.same();
                })
                .onSignal(Terminated.class, t -> onNicStopped.apply("NIC " + t.getRef().path().name()
                        + " stopped during the migration"))
                .build(rc.id());
    }
}
