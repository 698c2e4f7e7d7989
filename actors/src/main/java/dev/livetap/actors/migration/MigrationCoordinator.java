package dev.livetap.actors.migration;

import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.options.RunState;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StreamFormatException;
import dev.livetap.codec.StreamHeader;
import dev.livetap.codec.pekko.MigrationStreamFlows;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.MonotonicClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.typed.javadsl.ActorSink;

/**
 * One migration, source or target role. It opens no socket: a {@link MigrationTransport} gives it
 * the channel. Sections flow through the codec's Pekko Streams pipeline (encode flow → channel
 * sink; channel source → decode flow → this actor, with back-pressure); the target answers on the
 * same socket through the {@link ReturnPath}.
 *
 * <p>QEMU's statuses, each reported to the VM (which emits the MIGRATION event): source
 * {@code setup → active → device → completed} (with {@code pause-before-switchover}
 * {@code active → pre-switchover → device}, held until {@link ContinueSwitchover}), target
 * {@code setup → active → completed}; any
 * failure before the source receives {@code loaded} ends in {@code failed} (or
 * {@code cancelling → cancelled}) and rolls back: the source's queues return to paused with their
 * fds, the target closes everything it received. Every wait has a Pekko timer. The coordinator
 * never throws out of a failure: it reports and stops.
 */
public final class MigrationCoordinator {
    /** The MDC key every log line of a migration carries. */
    public static final String MDC_KEY = "migrationId";
    /** Source-crash rule (semantic 7), in the target's error. */
    public static final String DEVICE_LOST =
            "the migration source went away before every section loaded: the TAP device is lost"
                    + " (closing its fds destroys a non-persistent TAP)";

    private MigrationCoordinator() {
    }

    public sealed interface Command permits Cancel, ContinueSwitchover, Connected, ChannelFailed, Timeout, NicAnswer, StreamStarted,
            StreamSent, StreamSendFailed, ReturnFrame, ReturnClosed, StreamInit, SectionIn, StreamDone, StreamFailed, LoadedSent,
            NicReply {
    }

    /** {@code migrate_cancel}. */
    public record Cancel() implements Command {
    }

    /**
     * {@code migrate-continue} of a source held in {@code pre-switchover}: save and send the device
     * state now. Ignored in any other state (the VM checks the status before it sends this).
     */
    public record ContinueSwitchover() implements Command {
    }

    /** What a coordinator tells its VM. */
    public sealed interface Report permits Progress, RunStateChange, Finished {
    }

    /** The status (or figures) changed. */
    public record Progress(MigrationInfo info) implements Report {
    }

    /** The migration changed the VM's run state (source: finish-migrate, postmigrate, paused). */
    public record RunStateChange(String migrationId, RunState state) implements Report {
    }

    /**
     * The end. {@code backendHandedOver}: source, the target owns the backends now (the downscript
     * duty passes); target, this side owns them. {@code peerConfirmed}: target, the source got
     * {@code loaded} (false: the source went away after the whole stream loaded: the target owns the
     * TAP but must not resume by itself).
     */
    public record Finished(MigrationInfo info, boolean succeeded, boolean backendHandedOver, boolean peerConfirmed)
            implements Report {
    }

    /** A NIC of the VM and whether its backend travels (semantic 1: {@code local} and {@code backend-transfer}). */
    public record Nic(String deviceId, ActorRef<VirtioNetActor.Command> ref, boolean backendTravels) {
    }

    /**
     * @param pauseBeforeSwitchover capability {@code pause-before-switchover}: after the stop, report
     *     {@code pre-switchover} and wait for {@link ContinueSwitchover} before saving anything
     */
    public record SourceSetup(String migrationId, MigrationUri.Unix uri, MigrationParameters parameters, List<Nic> nics,
            StreamHeader header, MigrationTransport transport, MonotonicClock clock, MigrationTimeouts timeouts,
            boolean pauseBeforeSwitchover) {
        public SourceSetup {
            nics = List.copyOf(nics);
        }

        /** Without {@code pause-before-switchover}. */
        public SourceSetup(String migrationId, MigrationUri.Unix uri, MigrationParameters parameters, List<Nic> nics,
                StreamHeader header, MigrationTransport transport, MonotonicClock clock, MigrationTimeouts timeouts) {
            this(migrationId, uri, parameters, nics, header, transport, clock, timeouts, false);
        }
    }

    public record TargetSetup(String migrationId, MigrationUri.Unix uri, List<Nic> nics, MigrationTransport transport,
            MonotonicClock clock, MigrationTimeouts timeouts) {
        public TargetSetup {
            nics = List.copyOf(nics);
        }
    }

    // private messages
    private record Connected(FrameChannel channel) implements Command {
    }

    private record ChannelFailed(Throwable cause) implements Command {
    }

    private record Timeout(String what) implements Command {
    }

    private record NicAnswer(long op, int index, Object reply, Throwable failure) implements Command {
    }

    /** Private: a NIC's reply (or its timeout), matched to its request by {@link dev.livetap.actors.Replies}. */
    private record NicReply(Object wrapped) implements Command {
    }

    /** Source: the stream runs and its header is on its way to the target. */
    private record StreamStarted() implements Command {
    }

    private record StreamSent() implements Command {
    }

    private record StreamSendFailed(Throwable cause) implements Command {
    }

    private record ReturnFrame(Frame frame) implements Command {
    }

    private record ReturnClosed(Throwable cause) implements Command {
    }

    private enum Ack { INSTANCE }

    private record StreamInit(ActorRef<Ack> ack) implements Command {
    }

    private record SectionIn(ActorRef<Ack> ack, Section section) implements Command {
    }

    private record StreamDone() implements Command {
    }

    private record StreamFailed(Throwable cause) implements Command {
    }

    /** The decoder's failure as the stream's last element (see where the target's stream is built). */
    private record StreamBroken(Throwable cause) {
    }

    private record LoadedSent(Throwable failure) implements Command {
    }

    private static final String PHASE = "phase";
    private static final String SWITCHOVER = "switchover";

    public static Behavior<Command> source(SourceSetup setup, ActorRef<Report> report) {
        return Behaviors.withMdc(Command.class, Map.of(MDC_KEY, setup.migrationId()),
                Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                        new SourceRole(ctx, timers, setup, report).start())));
    }

    public static Behavior<Command> target(TargetSetup setup, ActorRef<Report> report) {
        return Behaviors.withMdc(Command.class, Map.of(MDC_KEY, setup.migrationId()),
                Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                        new TargetRole(ctx, timers, setup, report).start())));
    }

    /** What both roles share: status reports, figures, NIC requests gathered with timeouts. */
    private abstract static class Role {
        final ActorContext<Command> ctx;
        final TimerScheduler<Command> timers;
        final ActorRef<Report> report;
        final String id;
        final List<Nic> nics;
        final MonotonicClock clock;
        final MigrationTimeouts timeouts;
        final long startedAt;
        long activeAt = -1;
        MigrationInfo info;
        FrameChannel channel;
        boolean finished;
        private long nextOp = 1;
        private final TreeMap<Long, Op> ops = new TreeMap<>();
        private final dev.livetap.actors.Replies<Command> nicReplies;

        private static final class Op {
            final String what;
            final Object[] replies;
            int missing;
            final Consumer<List<Object>> onAll;
            final Consumer<String> onFailure;

            Op(String what, int n, Consumer<List<Object>> onAll, Consumer<String> onFailure) {
                this.what = what;
                this.replies = new Object[n];
                this.missing = n;
                this.onAll = onAll;
                this.onFailure = onFailure;
            }
        }

        Role(ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<Report> report, String id,
                List<Nic> nics, MonotonicClock clock, MigrationTimeouts timeouts) {
            this.ctx = ctx;
            this.timers = timers;
            this.report = report;
            this.id = id;
            this.nics = nics;
            this.clock = clock;
            this.timeouts = timeouts;
            this.nicReplies = new dev.livetap.actors.Replies<>(ctx, NicReply::new,
                    m -> ((VirtioNetActor.DeviceReply) m).deviceId(), VirtioNetActor.DeviceReply.class);
            this.startedAt = clock.nanos();
            this.info = new MigrationInfo(id, MigrationStatus.NONE, -1, -1, -1, null, 0, 0, false);
            for (Nic n : nics) {
                ctx.watch(n.ref());
            }
        }

        void status(MigrationStatus s) {
            if (s == MigrationStatus.ACTIVE && activeAt < 0) {
                activeAt = clock.nanos();
            }
            long now = clock.nanos();
            info = new MigrationInfo(id, s, activeAt < 0 ? -1 : ms(activeAt - startedAt), info.downtimeMs(),
                    ms(now - startedAt), info.errorDesc(), info.sourceStoppedNanos(), info.targetStartedNanos(), false);
            ctx.getLog().info("migration {}: status {}", id, s.qmpName());
            report.tell(new Progress(info));
        }

        static long ms(long nanos) {
            return Math.max(0, nanos / 1_000_000);
        }

        void phaseTimer(String what, Duration d) {
            timers.startSingleTimer(PHASE, new Timeout(what + " took longer than " + d.toMillis() + " ms"), d);
        }

        <R> void askNics(Class<R> cls, Function<Nic, Function<ActorRef<R>, VirtioNetActor.Command>> request, String what,
                Consumer<List<Object>> onAll, Consumer<String> onFailure) {
            long op = nextOp++;
            ops.put(op, new Op(what, nics.size(), onAll, onFailure));
            if (nics.isEmpty()) {
                ops.remove(op);
                onAll.accept(List.of());
                return;
            }
            for (int i = 0; i < nics.size(); i++) {
                int index = i;
                Nic nic = nics.get(i);
                nicReplies.ask(cls, nic.deviceId(), nic.ref(), timeouts.step(), r -> request.apply(nic).apply(r),
                        (r, ex) -> new NicAnswer(op, index, r, ex));
            }
        }

        /** One NIC only (sections load one at a time). */
        <R> void askNic(int index, Class<R> cls, Function<ActorRef<R>, VirtioNetActor.Command> request, String what,
                Consumer<Object> onReply, Consumer<String> onFailure) {
            long op = nextOp++;
            ops.put(op, new Op(what, 1, rs -> onReply.accept(rs.get(0)), onFailure));
            nicReplies.ask(cls, nics.get(index).deviceId(), nics.get(index).ref(), timeouts.step(), request::apply,
                    (r, ex) -> new NicAnswer(op, 0, r, ex));
        }

        Behavior<Command> onNicAnswer(NicAnswer a) {
            Op op = ops.get(a.op());
            if (op == null) {
                return Behaviors.same();
            }
            if (a.failure() != null) {
                ops.remove(a.op());
                String nic = op.replies.length == 1 ? "" : " of " + nics.get(a.index()).deviceId();
                op.onFailure.accept(op.what + nic + " failed: " + a.failure().getMessage());
                return Behaviors.same();
            }
            if (op.replies[a.index()] == null) {
                op.missing--;
            }
            op.replies[a.index()] = a.reply();
            if (op.missing == 0) {
                ops.remove(a.op());
                op.onAll.accept(Arrays.asList(op.replies));
            }
            return Behaviors.same();
        }

        /** Forget every gathered request (a failure interrupted them). */
        void dropOps() {
            ops.clear();
            nicReplies.forgetAll();
        }

        private boolean closeDeferred;

        void closeChannel() {
            if (channel != null && !closeDeferred) {
                channel.close();
            }
        }

        /**
         * Closes the channel once {@code lastFrame} is in the kernel (closing at once would drop
         * it), or after one step's timeout if the peer does not read.
         */
        void closeAfter(java.util.concurrent.CompletionStage<Void> lastFrame) {
            closeDeferred = true;
            FrameChannel ch = channel;
            lastFrame.whenComplete((v, ex) -> ch.close());
            ctx.getSystem().scheduler().scheduleOnce(timeouts.step(), ch::close, ctx.getExecutionContext());
        }

        /** Common handlers: NIC answers and a NIC that stopped. */
        Behavior<Command> withCommon(org.apache.pekko.actor.typed.javadsl.BehaviorBuilder<Command> b,
                Function<String, Behavior<Command>> onFailure) {
            return b.onMessage(NicAnswer.class, this::onNicAnswer)
                    .onMessage(NicReply.class, m -> {
                        Command answer = nicReplies.deliver(m.wrapped());
                        return answer == null ? Behaviors.same() : onNicAnswer((NicAnswer) answer);
                    })
                    .onMessage(ReturnFrame.class, m -> {
                        m.frame().close(); // a frame no state expects: never leak its fds
                        return Behaviors.same();
                    })
                    .onMessage(SectionIn.class, m -> {
                        m.section().close(); // a section no state expects: never leak its fds
                        return Behaviors.same();
                    })
                    .onAnyMessage(m -> {
                        ctx.getLog().debug("migration {}: {} ignored", id, m.getClass().getSimpleName());
                        return Behaviors.same();
                    })
                    .onSignal(PostStop.class, signal -> {
                        closeChannel(); // stopped from outside (VM shutdown): nothing received may stay open
                        return Behaviors.same();
                    })
                    .onSignal(Terminated.class, t -> finished ? Behaviors.same()
                            : onFailure.apply("NIC " + t.getRef().path().name() + " stopped during the migration"))
                    .build();
        }
    }

    // ================================================================== source

    private static final class SourceRole extends Role {
        private final SourceSetup setup;
        private long stoppedAt;
        private boolean queuesStopped;
        private boolean streamSent;

        SourceRole(ActorContext<Command> ctx, TimerScheduler<Command> timers, SourceSetup setup, ActorRef<Report> report) {
            super(ctx, timers, report, setup.migrationId(), setup.nics(), setup.clock(), setup.timeouts());
            this.setup = setup;
        }

        /** Created at setup, not in the switch-over: creating one spawns an actor (profile-switchover.md). */
        private Materializer materializer;

        Behavior<Command> start() {
            materializer = Materializer.createMaterializer(ctx);
            status(MigrationStatus.SETUP);
            phaseTimer("connecting to " + setup.uri().uri(), timeouts.channel());
            ctx.pipeToSelf(setup.transport().connect(setup.uri()),
                    (ch, ex) -> ex == null ? new Connected(ch) : new ChannelFailed(ex));
            return connecting();
        }

        private Behavior<Command> connecting() {
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(Connected.class, m -> {
                        channel = m.channel();
                        startReturnPath();
                        status(MigrationStatus.ACTIVE);
                        startStream();
                        return streamStarting();
                    })
                    .onMessage(ChannelFailed.class, m -> fail("cannot connect to " + setup.uri().uri() + ": "
                            + m.cause().getMessage(), false))
                    .onMessage(Timeout.class, m -> fail(m.what(), false))
                    .onMessage(Cancel.class, m -> fail("cancelled", true))
                    .onMessage(ReturnFrame.class, m -> unexpectedReturn(m))
                    .onMessage(ReturnClosed.class, m -> fail(closedText(m.cause()), false)), r -> fail(r, false));
        }

        /**
         * The VM keeps running until the stream has started and its header is on its way: a stream
         * starts on other threads (an actor spawn, its first scheduling), which cost 1-2 ms of
         * downtime when the stop came first (profile-switchover.md, third round).
         */
        private Behavior<Command> streamStarting() {
            phaseTimer("starting the migration stream", timeouts.step());
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(StreamStarted.class, m -> stopping())
                    .onMessage(StreamSendFailed.class, m -> fail("sending the migration stream failed: "
                            + m.cause().getMessage(), false))
                    .onMessage(ReturnFrame.class, this::returnBeforeTheStop)
                    .onMessage(ReturnClosed.class, m -> fail(closedText(m.cause()), false))
                    .onMessage(Timeout.class, m -> fail(m.what(), false))
                    .onMessage(Cancel.class, m -> fail("cancelled", true)), r -> fail(r, false));
        }

        /** Before the stop the target can only refuse (e.g. the header): anything else is a protocol error. */
        private Behavior<Command> returnBeforeTheStop(ReturnFrame m) {
            return onAnswer(m, a -> fail("the target answered " + a + " before the stream was sent", false));
        }

        /** An unreadable frame or the target's {@code failed} ends the migration; any other answer goes to {@code then}. */
        private Behavior<Command> onAnswer(ReturnFrame m, Function<ReturnPath.Answer, Behavior<Command>> then) {
            ReturnPath.Answer a;
            try {
                a = ReturnPath.decode(m.frame());
            } catch (IllegalArgumentException e) {
                return fail("bad return-path frame: " + e.getMessage(), false);
            }
            if (a instanceof ReturnPath.Failed f) {
                return fail("the target failed to load the migration: " + f.reason(), false);
            }
            return then.apply(a);
        }

        private void startReturnPath() {
            ActorRef<Command> self = ctx.getSelf();
            channel.start(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame frame) {
                    self.tell(new ReturnFrame(frame));
                }

                @Override
                public void onClosed(Throwable cause) {
                    self.tell(new ReturnClosed(cause));
                }
            });
        }

        /**
         * VM stop, then save: every queue stops reading on a frame boundary (the last one marks the
         * downtime start) and saves its state. The save is asked right behind the stop, without
         * waiting for the stop's answers: each NIC and each queue handles its requests in order, so
         * every queue is stopped before it saves, and one round of messages leaves the downtime
         * (docs/profile-switchover.md). The sections go out only once every queue has stopped.
         * With {@code pause-before-switchover} nothing is saved before {@code migrate-continue}:
         * frames that reach the TAP during the hold stay in its kernel queue (see {@link #held()}).
         */
        private Behavior<Command> stopping() {
            report.tell(new RunStateChange(id, RunState.FINISH_MIGRATE));
            phaseTimer("stopping the queues", timeouts.step());
            boolean hold = setup.pauseBeforeSwitchover();
            askNics(VirtioNetActor.Stopped.class, nic -> VirtioNetActor.Stop::new, "stop", rs -> {
                long last = 0;
                for (Object r : rs) {
                    last = Math.max(last, ((VirtioNetActor.Stopped) r).lastStopNanos());
                }
                queuesStopped = true;
                stoppedAt = last == 0 ? clock.nanos() : last;
                info = new MigrationInfo(id, info.status(), info.setupTimeMs(), -1, info.totalTimeMs(), null, stoppedAt,
                        0, false);
                if (hold) {
                    timers.cancel(PHASE); // management holds as long as it likes (QEMU waits without a limit)
                    status(MigrationStatus.PRE_SWITCHOVER);
                    startSwitchoverLimit();
                    return;
                }
                status(MigrationStatus.DEVICE);
                startSwitchoverLimit();
                phaseTimer("saving the device state", timeouts.step());
                allStopped = true;
                if (saved != null) {
                    send(saved);
                }
            }, r -> ctx.getSelf().tell(new Timeout(r)));
            queuesStopped = true; // a stop in flight counts: roll back whatever stopped
            if (hold) {
                return held();
            }
            save();
            return switchingOver();
        }

        /**
         * {@code x-switchover-limit} counts from the stop, as QEMU's downtime does: a hold in
         * {@code pre-switchover} counts against it (the guest is frozen all along).
         */
        private void startSwitchoverLimit() {
            long limit = setup.parameters().switchoverLimitMs();
            if (limit > 0) {
                long left = limit * 1_000_000 - (clock.nanos() - stoppedAt);
                timers.startSingleTimer(SWITCHOVER, new Timeout("switch-over exceeded x-switchover-limit of "
                        + limit + " ms; rolled back"), Duration.ofNanos(Math.max(0, left)));
            }
        }

        /**
         * {@code pre-switchover} (and the stop before it): the queues are stopped and keep their fds,
         * nothing is saved, the stream has sent its header only. {@code migrate-continue} goes on with
         * the switch-over; a cancel or any failure rolls back as before the stop.
         */
        private Behavior<Command> held() {
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(ContinueSwitchover.class, m -> info.status() == MigrationStatus.PRE_SWITCHOVER
                            ? continueSwitchover() : Behaviors.same())
                    .onMessage(StreamSendFailed.class, m -> fail("sending the migration stream failed: "
                            + m.cause().getMessage(), false))
                    .onMessage(ReturnFrame.class, this::returnBeforeTheStop)
                    .onMessage(ReturnClosed.class, m -> fail(closedText(m.cause()), false))
                    .onMessage(Timeout.class, m -> fail(m.what(), false))
                    .onMessage(Cancel.class, m -> fail("cancelled", true)), r -> fail(r, false));
        }

        private Behavior<Command> continueSwitchover() {
            status(MigrationStatus.DEVICE);
            phaseTimer("saving the device state", timeouts.step());
            allStopped = true;
            save(); // sends as soon as every NIC saved
            return switchingOver();
        }

        private boolean allStopped;
        private List<Section> saved;

        private void save() {
            askNics(VirtioNetActor.SaveResult.class, nic -> r -> new VirtioNetActor.SaveSection(nic.backendTravels(), r),
                    "save", rs -> {
                        List<Section> sections = new ArrayList<>();
                        for (Object r : rs) {
                            if (r instanceof VirtioNetActor.SectionSaveFailed f) {
                                ctx.getSelf().tell(new Timeout("saving " + f.deviceId() + " failed: " + f.reason()));
                                return;
                            }
                            sections.add(((VirtioNetActor.SectionSaved) r).section());
                        }
                        saved = sections;
                        if (allStopped) {
                            send(sections);
                        }
                    }, r -> ctx.getSelf().tell(new Timeout(r)));
        }

        /** The sections, once saved; the stream waits for them. */
        private final java.util.concurrent.CompletableFuture<List<Section>> sectionsToSend =
                new java.util.concurrent.CompletableFuture<>();

        /**
         * The stream runs before the VM stops: its header leaves at once (as QEMU's does at the start
         * of a migration) and materializing it stays out of the downtime (profile-switchover.md).
         */
        private void startStream() {
            ActorRef<Command> self = ctx.getSelf();
            boolean[] headerSeen = {false};
            ctx.pipeToSelf(Source.completionStage(sectionsToSend)
                            .mapConcat(list -> list)
                            .via(MigrationStreamFlows.encoder(setup.header()))
                            .map(frame -> {
                                if (!headerSeen[0]) { // the encoder's first frame: the header
                                    headerSeen[0] = true;
                                    self.tell(new StreamStarted());
                                }
                                return frame;
                            })
                            .runWith(MigrationStreamFlows.toChannel(channel), materializer),
                    (done, ex) -> ex == null ? new StreamSent() : new StreamSendFailed(ex));
        }

        private void send(List<Section> sections) {
            phaseTimer("sending the migration stream", timeouts.stream());
            sectionsToSend.complete(sections);
        }

        private Behavior<Command> switchingOver() {
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(StreamSent.class, m -> {
                        streamSent = true;
                        ctx.getLog().info("migration {}: stream sent, waiting for the target's answer", id);
                        phaseTimer("waiting for the target's answer (return path)", timeouts.returnPath());
                        return Behaviors.same();
                    })
                    .onMessage(StreamSendFailed.class, m -> fail("sending the migration stream failed: "
                            + m.cause().getMessage(), false))
                    .onMessage(ReturnFrame.class, this::onReturn)
                    .onMessage(ReturnClosed.class, m -> fail(closedText(m.cause()), false))
                    .onMessage(Timeout.class, m -> fail(m.what(), false))
                    .onMessage(Cancel.class, m -> fail("cancelled", true)), r -> fail(r, false));
        }

        private String closedText(Throwable cause) {
            return "the migration channel closed before the target answered"
                    + (cause == null ? "" : ": " + cause.getMessage());
        }

        private Behavior<Command> unexpectedReturn(ReturnFrame m) {
            m.frame().close();
            return fail("the target answered before the stream was sent", false);
        }

        private Behavior<Command> onReturn(ReturnFrame m) {
            return onAnswer(m, this::onTargetAnswer);
        }

        private Behavior<Command> onTargetAnswer(ReturnPath.Answer a) {
            if (!(a instanceof ReturnPath.Loaded)) {
                return fail("the target answered with " + a + " instead of loaded", false);
            }
            if (!streamSent) {
                // "loaded" before our sink confirmed: the target read everything, which is what counts
                ctx.getLog().debug("migration {}: loaded arrived before the send confirmation", id);
            }
            timers.cancelAll();
            finished = true;
            // The target waits for this confirmation to resume: it goes first, the bookkeeping after
            // (the source's queues stopped long ago and nothing below can roll back any more).
            closeAfter(channel.send(ReturnPath.completed(), List.of()));
            boolean handedOver = false;
            for (Nic n : nics) {
                n.ref().tell(new VirtioNetActor.Release());
                handedOver |= n.backendTravels();
            }
            long now = clock.nanos();
            info = new MigrationInfo(id, MigrationStatus.COMPLETED, info.setupTimeMs(), ms(now - stoppedAt),
                    ms(now - startedAt), null, stoppedAt, 0, false);
            report.tell(new RunStateChange(id, RunState.POSTMIGRATE));
            ctx.getLog().info("migration {}: status completed (downtime {} ms on the source side)", id, info.downtimeMs());
            report.tell(new Progress(info));
            report.tell(new Finished(info, true, handedOver, true));
            return Behaviors.stopped();
        }

        /** Roll back: channel closed (the target sees it and closes what it received), queues paused with their fds. */
        private Behavior<Command> fail(String reason, boolean cancelled) {
            if (finished) {
                return Behaviors.same();
            }
            finished = true;
            timers.cancelAll();
            dropOps();
            ctx.getLog().warn("migration {}: {}", id, reason);
            if (cancelled) {
                status(MigrationStatus.CANCELLING);
            }
            // The target must hear it: one that already answered loaded would otherwise take the TAP.
            if (channel != null && channel.isOpen()) {
                closeAfter(channel.send(ReturnPath.failed(reason), List.of()));
            } else {
                closeChannel();
            }
            // a stream still waiting for sections ends (after 'failed' is out: it is on its way already)
            sectionsToSend.completeExceptionally(new java.util.concurrent.CancellationException(reason));
            MigrationStatus end = cancelled ? MigrationStatus.CANCELLED : MigrationStatus.FAILED;
            String desc = cancelled ? null : reason;
            if (!queuesStopped) {
                return finish(end, desc, null);
            }
            timers.startSingleTimer(PHASE, new Timeout("rolling back took longer than " + timeouts.step().toMillis()
                    + " ms"), timeouts.step());
            askNics(VirtioNetActor.RolledBack.class, nic -> VirtioNetActor.Rollback::new, "rollback",
                    rs -> ctx.getSelf().tell(new Timeout("rolled back")), r -> ctx.getSelf().tell(new Timeout(r)));
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(Timeout.class, m -> finish(end, desc, m.what().equals("rolled back") ? null : m.what()))
                    .onMessage(Cancel.class, m -> Behaviors.same()), r -> Behaviors.same());
        }

        private Behavior<Command> finish(MigrationStatus end, String desc, String rollbackProblem) {
            timers.cancelAll();
            String error = rollbackProblem == null ? desc : (desc == null ? "" : desc + "; ") + rollbackProblem;
            long now = clock.nanos();
            info = new MigrationInfo(id, end, info.setupTimeMs(), -1, ms(now - startedAt), error,
                    info.sourceStoppedNanos(), 0, false);
            if (queuesStopped) {
                report.tell(new RunStateChange(id, RunState.PAUSED));
            }
            ctx.getLog().info("migration {}: status {}{}", id, end.qmpName(), error == null ? "" : " (" + error + ")");
            report.tell(new Progress(info));
            report.tell(new Finished(info, false, false, false));
            return Behaviors.stopped();
        }
    }

    // ================================================================== target

    private static final class TargetRole extends Role {
        private final TargetSetup setup;
        private final Map<String, Integer> bySection = new TreeMap<>();
        private final boolean[] loadedNic;
        private boolean loadPending;
        /** Sections acked and decoded while another one loads (several NICs), in stream order. */
        private final java.util.ArrayDeque<Section> toLoad = new java.util.ArrayDeque<>();
        private boolean streamDone;
        private boolean anyFdsReceived;
        private String loadFailure;
        /**
         * Sections the decoder produced that this actor has not taken yet. Pekko Streams drops
         * elements still inside the stream when it is cancelled or this actor stops; these are
         * closed instead, so their fds are never leaked.
         */
        private final Set<Section> inFlight = Collections.newSetFromMap(new IdentityHashMap<>());
        private boolean inFlightDrained;
        /** The transport's accept while this actor waits for the source; null once adopted or abandoned. */
        private java.util.concurrent.CompletableFuture<FrameChannel> accepting;

        TargetRole(ActorContext<Command> ctx, TimerScheduler<Command> timers, TargetSetup setup, ActorRef<Report> report) {
            super(ctx, timers, report, setup.migrationId(), setup.nics(), setup.clock(), setup.timeouts());
            this.setup = setup;
            this.loadedNic = new boolean[setup.nics().size()];
        }

        /** Called on the stream's thread for every decoded section. */
        private Section track(Section section) {
            synchronized (inFlight) {
                if (inFlightDrained) {
                    section.close();
                } else {
                    inFlight.add(section);
                }
            }
            return section;
        }

        private void taken(Section section) {
            synchronized (inFlight) {
                inFlight.remove(section);
            }
        }

        /**
         * This side gave up (or stops) while the transport may still accept: stop it listening, and
         * close a channel it already accepted whose {@code Connected} is still queued behind the
         * failure (or would reach this actor only after it stopped). A late connection is otherwise
         * never closed: the chaos runner found a failed target holding its accepted migration socket
         * after SIGSTOP/SIGCONT made the channel timeout and the accept fire together.
         */
        private void abandonAccept() {
            java.util.concurrent.CompletableFuture<FrameChannel> a = accepting;
            accepting = null;
            if (a != null && !a.cancel(false) && !a.isCompletedExceptionally()) {
                a.join().close();
            }
        }

        @Override
        void closeChannel() {
            abandonAccept();
            super.closeChannel();
            synchronized (inFlight) {
                inFlightDrained = true;
                inFlight.forEach(Section::close);
                inFlight.clear();
            }
        }

        /** Created at setup: the source may stop its VM the moment it connects, so nothing after the accept should wait for it. */
        private Materializer materializer;

        Behavior<Command> start() {
            status(MigrationStatus.SETUP);
            materializer = Materializer.createMaterializer(ctx);
            phaseTimer("describing the devices", timeouts.step());
            Map<String, Schema> schemas = new TreeMap<>();
            askNics(VirtioNetActor.SectionSchema.class, nic -> VirtioNetActor.DescribeSection::new, "describe", rs -> {
                for (int i = 0; i < rs.size(); i++) {
                    VirtioNetActor.SectionSchema s = (VirtioNetActor.SectionSchema) rs.get(i);
                    schemas.put(s.sectionName(), s.schema());
                    bySection.put(s.sectionName(), i);
                }
                phaseTimer("waiting for the source to connect at " + setup.uri().uri(), timeouts.channel());
                accepting = setup.transport().acceptOne(setup.uri()).toCompletableFuture();
                ctx.pipeToSelf(accepting, (ch, ex) -> ex == null ? new Connected(ch) : new ChannelFailed(ex));
            }, r -> ctx.getSelf().tell(new Timeout(r)));
            return waiting(schemas);
        }

        private Behavior<Command> waiting(Map<String, Schema> schemas) {
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(Connected.class, m -> {
                        accepting = null;
                        ActorRef<Command> self = ctx.getSelf();
                        channel = new HandOverChannel(m.channel(), frame -> self.tell(new ReturnFrame(frame)));
                        status(MigrationStatus.ACTIVE);
                        phaseTimer("receiving the migration stream", timeouts.stream());
                        Map<String, Schema> frozen = Map.copyOf(schemas);
                        SectionResolver resolver = (name, instance) -> instance == 0 ? frozen.get(name) : null;
                        // A failure travels in-band, behind the sections already decoded: ActorSink drops
                        // its buffered elements when upstream fails, and a dropped section is leaked fds.
                        MigrationStreamFlows.fromChannel(channel)
                                .viaMat(MigrationStreamFlows.decoder(resolver), Keep.none())
                                .<Object>map(this::track)
                                .recover(new PFBuilder<Throwable, Object>().match(Throwable.class, StreamBroken::new).build())
                                .to(ActorSink.<Object, Command, Ack>actorRefWithBackpressure(ctx.getSelf(),
                                        (ack, element) -> element instanceof Section section ? new SectionIn(ack, section)
                                                : new StreamFailed(((StreamBroken) element).cause()),
                                        StreamInit::new, Ack.INSTANCE, new StreamDone(), StreamFailed::new))
                                .run(materializer);
                        return receiving();
                    })
                    .onMessage(ChannelFailed.class, m -> fail("no migration connection at " + setup.uri().uri() + ": "
                            + m.cause().getMessage()))
                    .onMessage(Timeout.class, m -> fail(m.what()))
                    .onMessage(Cancel.class, m -> fail("cancelled on the target")), this::fail);
        }

        private Behavior<Command> receiving() {
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(StreamInit.class, m -> {
                        m.ack().tell(Ack.INSTANCE);
                        return Behaviors.same();
                    })
                    .onMessage(SectionIn.class, this::onSection)
                    .onMessage(StreamDone.class, m -> {
                        streamDone = true;
                        return loadPending ? Behaviors.same() : allLoaded();
                    })
                    .onMessage(StreamFailed.class, m -> fail(streamFailure(m.cause())))
                    .onMessage(ReturnFrame.class, this::answerBeforeTheEnd)
                    .onMessage(Timeout.class, m -> fail(m.what()))
                    .onMessage(Cancel.class, m -> fail("cancelled on the target")), this::fail);
        }

        /** The source answered while the stream was still loading: it gave up (it says why) and rolled back. */
        private Behavior<Command> answerBeforeTheEnd(ReturnFrame f) {
            ReturnPath.Answer a;
            try {
                a = ReturnPath.decode(f.frame());
            } catch (IllegalArgumentException e) {
                return fail("the source sent an unreadable return-path frame during the stream: " + e.getMessage());
            }
            return fail(a instanceof ReturnPath.Failed failed ? "the source gave up while the stream was loading: " + failed.reason()
                    : "the source answered " + a + " before the end of the stream");
        }

        private String streamFailure(Throwable cause) {
            if (cause instanceof StreamFormatException e && e.reason() == StreamFormatException.Reason.TRUNCATED
                    || !(cause instanceof StreamFormatException)) {
                return DEVICE_LOST + " (" + cause.getMessage() + ")";
            }
            return "the migration stream was refused: " + cause.getMessage();
        }

        /**
         * Acked at once: the stream decodes what follows (the end of the stream, or the next section)
         * while this section loads, instead of after an ack round trip through the stream; that round
         * trip and the end-of-stream message behind it were two hand-offs of the downtime
         * (profile-switchover.md, third round). Sections still load one at a time, in stream order.
         */
        private Behavior<Command> onSection(SectionIn m) {
            m.ack().tell(Ack.INSTANCE);
            if (loadPending) {
                toLoad.add(m.section()); // still tracked as in flight: closed if the migration fails first
            } else {
                load(m.section());
            }
            return Behaviors.same();
        }

        private void load(Section section) {
            taken(section);
            Integer index = bySection.get(section.name());
            if (index == null) { // the resolver only knows our sections: cannot happen, but never leak
                section.close();
                ctx.getSelf().tell(new Timeout("unknown section " + section.name()));
                return;
            }
            anyFdsReceived |= !section.struct().fds().isEmpty();
            loadPending = true;
            askNic(index, VirtioNetActor.LoadResult.class, r -> new VirtioNetActor.LoadSection(section, r),
                    "loading " + section.name(), r -> {
                        loadPending = false;
                        if (r instanceof VirtioNetActor.SectionLoadFailed f) {
                            // kept, so that an end of stream already queued ahead of the Timeout names this cause
                            loadFailure = "loading " + f.deviceId() + " failed: " + f.reason();
                            ctx.getSelf().tell(new Timeout(loadFailure));
                            return;
                        }
                        loadedNic[index] = true;
                        Section next = toLoad.poll();
                        if (next != null) {
                            load(next);
                        } else if (streamDone) {
                            ctx.getSelf().tell(new StreamDone());
                        }
                    }, r -> ctx.getSelf().tell(new Timeout(r)));
        }

        /** End of stream reached and every post_load done: answer {@code loaded}. */
        private Behavior<Command> allLoaded() {
            if (loadFailure != null) {
                return fail(loadFailure);
            }
            for (int i = 0; i < nics.size(); i++) {
                if (!loadedNic[i]) {
                    return fail("the stream carried no section for " + nics.get(i).deviceId());
                }
            }
            timers.cancel(PHASE);
            // From here on this actor reads the channel: the source answers loaded with completed or failed.
            ActorRef<Command> self = ctx.getSelf();
            ((HandOverChannel) channel).handOver(new FrameChannel.FrameHandler() {
                @Override
                public void onFrame(Frame frame) {
                    self.tell(new ReturnFrame(frame));
                }

                @Override
                public void onClosed(Throwable cause) {
                    self.tell(new ReturnClosed(cause));
                }
            });
            ctx.pipeToSelf(channel.send(ReturnPath.loaded(), List.of()), (v, ex) -> new LoadedSent(ex));
            // The source's answer may overtake the confirmation that 'loaded' was sent: wait for both here.
            phaseTimer("waiting for the source's confirmation", timeouts.returnPath());
            return awaitingConfirmation();
        }

        private Behavior<Command> awaitingConfirmation() {
            Throwable[] loadedUnsent = {null};
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(LoadedSent.class, m -> {
                        // A source that gave up first sent 'failed' before it went away: that answer may be
                        // in our socket behind the stream. Read to the end (bounded by the phase timer)
                        // instead of concluding that the source died.
                        loadedUnsent[0] = m.failure();
                        return Behaviors.same();
                    })
                    .onMessage(ReturnFrame.class, f -> {
                        ReturnPath.Answer a;
                        try {
                            a = ReturnPath.decode(f.frame());
                        } catch (IllegalArgumentException e) {
                            return completedUnconfirmed("the source's answer to 'loaded' was unreadable (" + e.getMessage() + ")");
                        }
                        if (a instanceof ReturnPath.Completed) {
                            return completed(true);
                        }
                        if (a instanceof ReturnPath.Failed failed) {
                            return fail("the source gave up after 'loaded': " + failed.reason());
                        }
                        return completedUnconfirmed("the source answered 'loaded' with " + a);
                    })
                    .onMessage(ReturnClosed.class, c -> completedUnconfirmed(loadedUnsent[0] != null
                            ? "the source went away before it got 'loaded' (" + loadedUnsent[0].getMessage() + ")"
                            : "the channel closed before the source confirmed" + (c.cause() == null ? "" : " (" + c.cause().getMessage() + ")")))
                    .onMessage(Timeout.class, t -> completedUnconfirmed(t.what()))
                    .onMessage(Cancel.class, c -> {
                        ctx.getLog().warn("migration {}: cancel ignored: every section is loaded", id);
                        return Behaviors.same();
                    }), this::fail);
        }

        /**
         * Every section loaded, but the source never confirmed: by the source-crash rule this side
         * owns the TAP, yet it does not start reading by itself - a source that gave up may be
         * resumed too, and only management knows which one lives. {@code cont} resumes it.
         */
        private Behavior<Command> completedUnconfirmed(String why) {
            ctx.getLog().warn("migration {}: every section loaded but {}: this side owns the TAP; resume it with cont"
                    + " once the source is known to be stopped", id, why);
            return completed(false);
        }

        private Behavior<Command> completed(boolean confirmed) {
            timers.cancelAll();
            finished = true;
            long now = clock.nanos();
            info = new MigrationInfo(id, MigrationStatus.COMPLETED, info.setupTimeMs(), -1, ms(now - startedAt), null,
                    0, 0, false);
            ctx.getLog().info("migration {}: status completed", id);
            report.tell(new Progress(info));
            report.tell(new Finished(info, true, true, confirmed));
            // the source closes the channel; our side goes with this actor
            return Behaviors.stopped(() -> closeChannel());
        }

        /** Close everything received, tell the source (if it still listens), report failed. */
        private Behavior<Command> fail(String reason) {
            if (finished) {
                return Behaviors.same();
            }
            finished = true;
            timers.cancelAll();
            dropOps();
            abandonAccept();
            ctx.getLog().warn("migration {}: {}", id, reason);
            if (channel != null && channel.isOpen()) {
                // closed once the answer is out: closing at once could drop it (the source then only sees the close)
                closeAfter(channel.send(ReturnPath.failed(reason), List.of()));
            }
            timers.startSingleTimer(PHASE, new Timeout("discard"), timeouts.step());
            askNics(VirtioNetActor.Discarded.class, nic -> VirtioNetActor.Discard::new, "discard",
                    rs -> ctx.getSelf().tell(new Timeout("discard")), r -> ctx.getSelf().tell(new Timeout("discard: " + r)));
            return withCommon(Behaviors.receive(Command.class)
                    .onMessage(Timeout.class, m -> {
                        long now = clock.nanos();
                        String desc = m.what().equals("discard") ? reason : reason + "; " + m.what();
                        info = new MigrationInfo(id, MigrationStatus.FAILED, info.setupTimeMs(), -1, ms(now - startedAt),
                                desc, 0, 0, false);
                        ctx.getLog().info("migration {}: status failed ({})", id, desc);
                        report.tell(new Progress(info));
                        report.tell(new Finished(info, false, false, false));
                        return Behaviors.stopped(() -> closeChannel());
                    })
                    .onMessage(Cancel.class, m -> Behaviors.same())
                    .onMessage(SectionIn.class, m -> {
                        m.section().close(); // still in flight when the migration failed: never leak its fds
                        m.ack().tell(Ack.INSTANCE);
                        return Behaviors.same();
                    }), r -> Behaviors.same());
        }
    }
}
