package dev.livetap.actors.migration;

import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.Receive;
import dev.livetap.actors.RoutineLog;
import dev.livetap.actors.FanOut;
import dev.livetap.actors.migration.MigrationCoordinator.Cancel;
import dev.livetap.actors.migration.MigrationCoordinator.Command;
import dev.livetap.actors.migration.MigrationCoordinator.Finished;
import dev.livetap.actors.migration.MigrationCoordinator.GetState;
import dev.livetap.actors.migration.MigrationCoordinator.Progress;
import dev.livetap.actors.migration.MigrationCoordinator.Report;
import dev.livetap.actors.migration.MigrationCoordinator.TargetSetup;
import dev.livetap.actors.migration.MigrationEvents.ChannelFailed;
import dev.livetap.actors.migration.MigrationEvents.Connected;
import dev.livetap.actors.migration.MigrationEvents.Discarded;
import dev.livetap.actors.migration.MigrationEvents.FanOutTimedOut;
import dev.livetap.actors.migration.MigrationEvents.LoadedSent;
import dev.livetap.actors.migration.MigrationEvents.NicReply;
import dev.livetap.actors.migration.MigrationEvents.PhaseTimedOut;
import dev.livetap.actors.migration.MigrationEvents.ReturnClosed;
import dev.livetap.actors.migration.MigrationEvents.ReturnFrame;
import dev.livetap.actors.migration.MigrationEvents.ReturnPathHandler;
import dev.livetap.actors.migration.MigrationEvents.SectionIn;
import dev.livetap.actors.migration.MigrationEvents.StepFailed;
import dev.livetap.actors.migration.MigrationEvents.StreamBroken;
import dev.livetap.actors.migration.MigrationEvents.StreamDone;
import dev.livetap.actors.migration.MigrationEvents.StreamFailed;
import dev.livetap.actors.migration.RoleContext.Figures;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.nic.VirtioNetSchema;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.codec.Schema;
import dev.livetap.codec.Section;
import dev.livetap.codec.SectionResolver;
import dev.livetap.codec.StreamFormatException;
import dev.livetap.codec.pekko.MigrationStreamFlows;
import dev.livetap.nativeio.FrameChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.typed.javadsl.ActorSink;

/**
 * The target role of one migration. States, each a behaviour carrying an immutable record:
 * {@code describing → listening → receiving ⇄ loading → awaitingConfirmation → completed}, and
 * from any of them {@code discarding → failed}. QEMU's statuses: {@code setup → active →
 * completed}. Sections are acked at once and load one at a time, in stream order; after the end
 * of the stream and every post_load the target answers {@code loaded} and waits for the source's
 * {@code completed} (or {@code failed}: it discards what it loaded).
 */
final class TargetMigration {
    private TargetMigration() {
    }

    /** What the role keeps for its whole life. */
    private record Role(RoleContext rc, TargetSetup setup, Materializer materializer, InFlightSections inFlight) {
    }

    /** Receiving the stream: the load in flight (if any), the sections queued behind it, what loaded. */
    private record Receiving(Figures figures, HandOverChannel channel, Map<String, Integer> bySection, long nextRequestId,
            Optional<FanOut<VirtioNetActor.LoadResult>> load, int loadingIndex, List<Section> queued, boolean streamDone,
            Optional<String> loadFailure, Set<Integer> loaded, boolean fdsArrived) {
        Receiving {
            bySection = Map.copyOf(bySection);
            queued = List.copyOf(queued);
            loaded = Set.copyOf(loaded);
        }

        Receiving withLoad(Optional<FanOut<VirtioNetActor.LoadResult>> l, int index, long next) {
            return new Receiving(figures, channel, bySection, next, l, index, queued, streamDone, loadFailure, loaded, fdsArrived);
        }

        Receiving withQueued(List<Section> q) {
            return new Receiving(figures, channel, bySection, nextRequestId, load, loadingIndex, q, streamDone, loadFailure,
                    loaded, fdsArrived);
        }

        Receiving withStreamDone() {
            return new Receiving(figures, channel, bySection, nextRequestId, load, loadingIndex, queued, true, loadFailure,
                    loaded, fdsArrived);
        }

        Receiving withLoadFailure(String failure) {
            return new Receiving(figures, channel, bySection, nextRequestId, Optional.empty(), -1, queued, streamDone,
                    Optional.of(failure), loaded, fdsArrived);
        }

        /** A section that carried fds arrived: from now on a broken stream loses a device. */
        Receiving withFdsArrived() {
            return new Receiving(figures, channel, bySection, nextRequestId, load, loadingIndex, queued, streamDone,
                    loadFailure, loaded, true);
        }

        Receiving withLoaded(int index) {
            Set<Integer> l = new TreeSet<>(loaded);
            l.add(index);
            return new Receiving(figures, channel, bySection, nextRequestId, Optional.empty(), -1, queued, streamDone,
                    loadFailure, l, fdsArrived);
        }
    }

    /** Failing: what to report once every NIC discarded what it received. */
    private record Discarding(Figures figures, String reason, Optional<FanOut<VirtioNetActor.Discarded>> discard,
            Optional<FrameChannel> toClose) {
    }

    static Behavior<Command> create(TargetSetup setup, ActorRef<Report> report) {
        // The migration id is in the MDC while the role starts and in each state's dispatch (Receive.build(id)),
        // not through a withMdc interceptor: one interceptor less on every message of the switch-over.
        return Behaviors.supervise(Behaviors.<Command>setup(ctx -> Behaviors.withTimers(timers -> MigrationMdc.with(setup.migrationId(), () -> {
                    RoleContext rc = RoleContext.of(ctx, timers, report, setup.migrationId(), setup.nics(),
                            setup.clock(), setup.timeouts());
                    Figures f = rc.status(Figures.start(setup.migrationId(), setup.clock().nanos()), MigrationStatus.SETUP);
                    // created at setup: the source may stop its VM the moment it connects, so nothing after the accept should wait for it
                    Role role = new Role(rc, setup, Materializer.createMaterializer(ctx), new InFlightSections());
                    rc.phaseTimer("describing the devices", rc.timeouts().step());
                    FanOut<VirtioNetActor.SectionSchema> describe = rc.askNics(1, "describe",
                            VirtioNetActor.SectionSchema.class, (nic, id) -> new VirtioNetActor.DescribeSection(id,
                                    rc.nicReplies().narrow(), rc.id()));
                    return describe.complete() ? listening(role, f, describe.gathered()) : describing(role, f, describe);
                })))).onFailure(MigrationCoordinator.SUPERVISION);
    }

    private static Behavior<Command> describing(Role role, Figures f, FanOut<VirtioNetActor.SectionSchema> describe) {
        RoleContext rc = role.rc();
        // already listening (the VM answered migrate-incoming once it did): a failure stops that too
        return beforeTheStream(role, f, Optional.of(role.setup().accepting()), Receive.of(Command.class)
                .onMessage(GetState.class, m -> SourceMigration.stateIs(m, "describing"))
                .onMessage(NicReply.class, m -> {
                    FanOut.Outcome<VirtioNetActor.SectionSchema> o = describe.offer(m.reply().requestId(), m.reply(),
                            rc.timers());
                    if (o instanceof FanOut.Waiting<VirtioNetActor.SectionSchema> w) {
                        return describing(role, f, w.next());
                    }
                    if (o instanceof FanOut.Gathered<VirtioNetActor.SectionSchema> g) {
                        return listening(role, f, g.replies());
                    }
                    rc.dropLate(m.reply());
                    return Behaviors.same();
                })
                .onMessage(FanOutTimedOut.class, m -> {
                    if (m.firstRequestId() == describe.firstRequestId()) {
                        rc.ctx().getSelf().tell(new StepFailed("describing", RoleContext.failureText(describe)));
                    }
                    return Behaviors.same();
                }));
    }

    /** Every NIC described its section: take the source's connection (it may have arrived while describing). */
    private static Behavior<Command> listening(Role role, Figures f, List<VirtioNetActor.SectionSchema> rs) {
        RoleContext rc = role.rc();
        Map<String, Schema> schemas = new TreeMap<>();
        Map<String, Integer> bySection = new TreeMap<>();
        for (int i = 0; i < rs.size(); i++) {
            schemas.put(rs.get(i).sectionName(), rs.get(i).schema());
            bySection.put(rs.get(i).sectionName(), i);
        }
        rc.phaseTimer("waiting for the source to connect at " + role.setup().uri().uri(), rc.timeouts().channel());
        CompletableFuture<FrameChannel> accepting = role.setup().accepting();
        rc.ctx().pipeToSelf(accepting, (ch, ex) -> ex == null ? new Connected(ch) : new ChannelFailed(ex));
        Map<String, Schema> frozen = Map.copyOf(schemas);
        Map<String, Integer> index = Map.copyOf(bySection);
        return beforeTheStream(role, f, Optional.of(accepting), Receive.of(Command.class)
                .onMessage(GetState.class, m -> SourceMigration.stateIs(m, "listening"))
                .onMessage(Connected.class, m -> {
                    SwitchoverStepEvent.step(rc, SwitchoverStepEvent.TARGET, "source connected");
                    ActorRef<Command> self = rc.ctx().getSelf();
                    HandOverChannel channel = new HandOverChannel(m.channel(), frame -> self.tell(new ReturnFrame(frame)));
                    // a frame this side cannot take (fds lost at its descriptor limit, a bad length) closes the
                    // channel in the framing layer: the source hears why first, not only the close
                    channel.lastWordsOnReceiveFailure(cause -> ReturnPath.failed(receiveFailure(cause)));
                    Figures active = rc.status(f, MigrationStatus.ACTIVE);
                    rc.phaseTimer("receiving the migration stream", rc.timeouts().stream());
                    SectionResolver resolver = (name, instance) -> instance == 0 ? frozen.get(name) : null;
                    // A failure travels in-band, behind the sections already decoded (never dropped
                    // with a stage's buffer: a dropped section is leaked fds). No ack protocol: this
                    // actor queues sections itself, and Pekko's back-pressured sink completes
                    // without waiting for the last ack, which then reached a stopped stage.
                    MigrationStreamFlows.onStreamDispatcher(MigrationStreamFlows.fromChannel(channel)
                            .viaMat(MigrationStreamFlows.decoder(resolver), Keep.none())
                            .<Object>map(role.inFlight()::track)
                            .recover(new PFBuilder<Throwable, Object>().match(Throwable.class, StreamBroken::new).build())
                            .<Command>map(element -> element instanceof Section section ? new SectionIn(section)
                                    : new StreamFailed(((StreamBroken) element).cause()))
                            .to(ActorSink.actorRef(self, new StreamDone(), StreamFailed::new)))
                            .run(role.materializer());
                    return receiving(role, new Receiving(active, channel, index, 1 + rc.nics().size(), Optional.empty(), -1,
                            List.of(), false, Optional.empty(), Set.of(), false));
                })
                .onMessage(ChannelFailed.class, m -> fail(role, f, Optional.of(accepting), Optional.empty(), 1 + rc.nics().size(),
                        "no migration connection at " + role.setup().uri().uri() + ": " + m.cause().getMessage())));
    }

    /** Describing and listening alike: timeouts, cancel and failures end the migration. */
    private static Behavior<Command> beforeTheStream(Role role, Figures f, Optional<CompletableFuture<FrameChannel>> accepting,
            Receive<Command> b) {
        Function<String, Behavior<Command>> failed = r -> fail(role, f, accepting, Optional.empty(), 1 + role.rc().nics().size(), r);
        return common(role, accepting, Optional.empty(), b
                .onMessage(PhaseTimedOut.class, m -> failed.apply(m.text()))
                .onMessage(StepFailed.class, m -> failed.apply(m.description()))
                .onMessage(Cancel.class, m -> failed.apply("cancelled on the target")), failed);
    }

    /** Receiving the stream; with a load in flight ({@code r.load()}) this is the loading state. */
    private static Behavior<Command> receiving(Role role, Receiving r) {
        RoleContext rc = role.rc();
        Function<String, Behavior<Command>> failed = reason -> fail(role, r.figures(), Optional.empty(),
                Optional.of(r.channel()), r.nextRequestId(), reason);
        return common(role, Optional.empty(), Optional.of(r.channel()), Receive.of(Command.class)
                .onMessage(GetState.class, m -> SourceMigration.stateIs(m, r.load().isPresent() ? "loading" : "receiving"))
                .onMessage(SectionIn.class, m -> onSection(role, r, m))
                .onMessage(StreamDone.class, m -> r.load().isPresent() ? receiving(role, r.withStreamDone())
                        : allLoaded(role, r.withStreamDone()))
                .onMessage(NicReply.class, m -> onLoadReply(role, r, m))
                .onMessage(FanOutTimedOut.class, m -> {
                    r.load().filter(l -> l.firstRequestId() == m.firstRequestId()).ifPresent(l -> rc.ctx().getSelf()
                            .tell(new StepFailed("loading", RoleContext.failureText(l))));
                    return Behaviors.same();
                })
                .onMessage(StreamFailed.class, m -> failed.apply(streamFailure(m.cause(), r.fdsArrived())))
                .onMessage(ReturnFrame.class, m -> failed.apply(answerBeforeTheEnd(m)))
                .onMessage(PhaseTimedOut.class, m -> failed.apply(m.text()))
                .onMessage(StepFailed.class, m -> failed.apply(m.description()))
                .onMessage(Cancel.class, m -> failed.apply("cancelled on the target")), failed);
    }

    /**
     * Queued here, not held back in the stream: the stream decodes what follows (the end of the
     * stream, or the next section) while this section loads; an ack round trip per section was two
     * hand-offs of the downtime (profile-switchover.md, third round). Sections still load one at a
     * time, in stream order.
     */
    private static Behavior<Command> onSection(Role role, Receiving before, SectionIn m) {
        Receiving r = before.fdsArrived() || m.section().struct().fds().isEmpty() ? before : before.withFdsArrived();
        if (r.load().isPresent()) {
            List<Section> q = new ArrayList<>(r.queued());
            q.add(m.section()); // still tracked as in flight: closed if the migration fails first
            return receiving(role, r.withQueued(q));
        }
        return receiving(role, load(role, r, m.section()));
    }

    private static Receiving load(Role role, Receiving r, Section section) {
        RoleContext rc = role.rc();
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.TARGET, "load", section.name());
        role.inFlight().taken(section);
        Integer index = r.bySection().get(section.name());
        if (index == null) { // the resolver only knows our sections: cannot happen, but never leak
            section.close();
            rc.ctx().getSelf().tell(new StepFailed("loading", "unknown section " + section.name()));
            return r;
        }
        Optional<String> refusal = rc.nics().get(index).refusesBackend();
        if (refusal.isPresent() && carriesBackend(section)) {
            section.close(); // the TAP queue fds that arrived: never adopted
            String failure = "loading " + rc.nics().get(index).deviceId() + " failed: " + refusal.get();
            rc.ctx().getSelf().tell(new StepFailed("loading", failure));
            return r.withLoadFailure(failure);
        }
        FanOut<VirtioNetActor.LoadResult> load = rc.askNic(r.nextRequestId(), index, "loading " + section.name(),
                VirtioNetActor.LoadResult.class, (nic, id) -> new VirtioNetActor.LoadSection(id, section,
                        rc.nicReplies().narrow(), rc.id()));
        return r.withLoad(Optional.of(load), index, load.nextRequestId());
    }

    /** Whether a NIC section brings backend state (the {@code virtio-net-nic} subsection with the queue fds). */
    private static boolean carriesBackend(Section section) {
        try {
            return section.struct().subsection(VirtioNetSchema.NIC_SUBSECTION) != null;
        } catch (RuntimeException e) {
            return false; // a malformed section is the NIC's to refuse
        }
    }

    private static Behavior<Command> onLoadReply(Role role, Receiving r, NicReply m) {
        RoleContext rc = role.rc();
        if (r.load().isEmpty()
                || !(r.load().get().offer(m.reply().requestId(), m.reply(), rc.timers()) instanceof FanOut.Gathered<VirtioNetActor.LoadResult> g)) {
            rc.dropLate(m.reply());
            return Behaviors.same();
        }
        if (g.replies().get(0) instanceof VirtioNetActor.SectionLoadFailed f) {
            // kept, so that an end of stream already queued ahead of the StepFailed names this cause
            String failure = "loading " + f.deviceId() + " failed: " + f.reason();
            rc.ctx().getSelf().tell(new StepFailed("loading", failure));
            return receiving(role, r.withLoadFailure(failure));
        }
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.TARGET, "section loaded");
        Receiving next = r.withLoaded(r.loadingIndex());
        if (!next.queued().isEmpty()) {
            Section head = next.queued().get(0);
            return receiving(role, load(role, next.withQueued(next.queued().subList(1, next.queued().size())), head));
        }
        if (next.streamDone()) {
            rc.ctx().getSelf().tell(new StreamDone());
        }
        return receiving(role, next);
    }

    /** The source answered while the stream was still loading: it gave up (it says why) and rolled back. */
    private static String answerBeforeTheEnd(ReturnFrame f) {
        ReturnPath.Answer a;
        try {
            a = ReturnPath.decode(f.frame());
        } catch (IllegalArgumentException e) {
            return "the source sent an unreadable return-path frame during the stream: " + e.getMessage();
        }
        return a instanceof ReturnPath.Failed failed ? "the source gave up while the stream was loading: " + failed.reason()
                : "the source answered " + a + " before the end of the stream";
    }

    /**
     * "Device lost" only when it is: fds arrived here and closing them may destroy the TAP. Before
     * any fd (a rogue peer's bytes, a source that died before its sections) nothing was received.
     */
    private static String streamFailure(Throwable cause, boolean fdsArrived) {
        if (cause instanceof StreamFormatException e && e.reason() == StreamFormatException.Reason.TRUNCATED
                || !(cause instanceof StreamFormatException)) {
            return (fdsArrived ? MigrationCoordinator.DEVICE_LOST : MigrationCoordinator.NOTHING_RECEIVED)
                    + " (" + cause.getMessage() + ")";
        }
        return "the migration stream was refused: " + cause.getMessage();
    }

    /** What the source is told when this side could not receive a frame of the stream. */
    static String receiveFailure(Throwable cause) {
        return "the target could not receive the migration stream: " + cause.getMessage();
    }

    /** End of stream reached and every post_load done: answer {@code loaded}. */
    private static Behavior<Command> allLoaded(Role role, Receiving r) {
        RoleContext rc = role.rc();
        if (r.loadFailure().isPresent()) {
            return fail(role, r.figures(), Optional.empty(), Optional.of(r.channel()), r.nextRequestId(), r.loadFailure().get());
        }
        for (int i = 0; i < rc.nics().size(); i++) {
            if (!r.loaded().contains(i)) {
                return fail(role, r.figures(), Optional.empty(), Optional.of(r.channel()), r.nextRequestId(),
                        "the stream carried no section for " + rc.nics().get(i).deviceId());
            }
        }
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.TARGET, "send loaded");
        rc.timers().cancel(RoleContext.PHASE);
        // From here on this actor reads the channel: the source answers loaded with completed or failed.
        r.channel().handOver(new ReturnPathHandler(rc.ctx().getSelf()));
        // a told LoadedSent, not pipeToSelf: the source's answer may end this role first, and a piped null result
        // that reaches a stopped actor crashes Pekko's DeadLetterListener (docs/embedding.md)
        ActorRef<Command> self = rc.ctx().getSelf();
        r.channel().send(ReturnPath.loaded(), List.of()).whenComplete((v, ex) -> self.tell(new LoadedSent(ex)));
        // The source's answer may overtake the confirmation that 'loaded' was sent: wait for both here.
        rc.phaseTimer("waiting for the source's confirmation", rc.timeouts().returnPath());
        return awaitingConfirmation(role, r.figures(), r.channel(), r.nextRequestId(), Optional.empty());
    }

    private static Behavior<Command> awaitingConfirmation(Role role, Figures f, HandOverChannel channel, long nextRequestId,
            Optional<Throwable> loadedUnsent) {
        RoleContext rc = role.rc();
        return common(role, Optional.empty(), Optional.of(channel), Receive.of(Command.class)
                .onMessage(GetState.class, m -> SourceMigration.stateIs(m, "awaitingConfirmation"))
                // A source that gave up first sent 'failed' before it went away: that answer may be
                // in our socket behind the stream. Read to the end (bounded by the phase timer)
                // instead of concluding that the source died.
                .onMessage(LoadedSent.class, m -> awaitingConfirmation(role, f, channel, nextRequestId,
                        Optional.ofNullable(m.failure())))
                .onMessage(ReturnFrame.class, m -> {
                    ReturnPath.Answer a;
                    try {
                        a = ReturnPath.decode(m.frame());
                    } catch (IllegalArgumentException e) {
                        return completedUnconfirmed(role, f, Optional.of(channel), "the source's answer to 'loaded' was unreadable ("
                                + e.getMessage() + ")");
                    }
                    if (a instanceof ReturnPath.Completed c) {
                        return completed(role, f, true, c.sourceRunning(), Optional.of(channel));
                    }
                    if (a instanceof ReturnPath.Failed failed) {
                        return fail(role, f, Optional.empty(), Optional.of(channel), nextRequestId,
                                "the source gave up after 'loaded': " + failed.reason());
                    }
                    return completedUnconfirmed(role, f, Optional.of(channel), "the source answered 'loaded' with " + a);
                })
                .onMessage(ReturnClosed.class, c -> completedUnconfirmed(role, f, Optional.empty(), loadedUnsent.isPresent()
                        ? "the source went away before it got 'loaded' (" + loadedUnsent.get().getMessage() + ")"
                        : "the channel closed before the source confirmed" + (c.cause() == null ? "" : " ("
                                + c.cause().getMessage() + ")")))
                .onMessage(PhaseTimedOut.class, t -> completedUnconfirmed(role, f, Optional.of(channel), t.text()))
                .onMessage(StepFailed.class, t -> completedUnconfirmed(role, f, Optional.of(channel), t.description()))
                .onMessage(Cancel.class, c -> {
                    rc.ctx().getLog().warn("migration {}: cancel ignored: every section is loaded", rc.id());
                    return Behaviors.same();
                }), r -> fail(role, f, Optional.empty(), Optional.of(channel), nextRequestId, r));
    }

    /**
     * Every section loaded, but the source never confirmed: by the source-crash rule this side
     * owns the TAP, yet it does not start reading by itself - a source that gave up may be
     * resumed too, and only management knows which one lives. {@code cont} resumes it.
     */
    private static Behavior<Command> completedUnconfirmed(Role role, Figures f, Optional<HandOverChannel> open, String why) {
        role.rc().ctx().getLog().warn("migration {}: every section loaded but {}: this side owns the TAP; resume it with"
                + " cont once the source is known to be stopped", role.rc().id(), why);
        return completed(role, f, false, true, open);
    }

    /**
     * The end. A channel still open is closed here, and the actor stops on the {@code ReturnClosed}
     * that closing it delivers (exactly once), so the end of the channel never finds this actor gone
     * (no dead letter); the step timeout bounds the wait.
     */
    private static Behavior<Command> completed(Role role, Figures f, boolean confirmed, boolean sourceRunning,
            Optional<HandOverChannel> open) {
        RoleContext rc = role.rc();
        SwitchoverStepEvent.step(rc, SwitchoverStepEvent.TARGET, confirmed ? "completed received" : "completed unconfirmed");
        rc.timers().cancelAll();
        long now = rc.clock().nanos();
        MigrationInfo info = new MigrationInfo(rc.id(), MigrationStatus.COMPLETED, f.info().setupTimeMs(), -1,
                RoleContext.ms(now - f.startedAt()), null, 0, 0, false);
        // The VM starts its NICs on Finished, which carries the final figures: it goes first and alone
        // (a Progress before it was one more VM-actor message ahead of the resume; the VM only kept its
        // info), the log line after it (docs/benchmarks.md, "Downtime A/B of the merged main").
        rc.report().tell(new Finished(info, true, true, confirmed, sourceRunning));
        RoutineLog.info(rc.ctx().getLog(), "migration {}: status completed", rc.id());
        if (open.isEmpty()) {
            return Behaviors.stopped();
        }
        if (confirmed) {
            // 'completed' is the source's last frame: the channel's end (and any frame after all) goes to a handler
            // that closes it, so the role stops now instead of one ReturnClosed later, beside the VM's start of its
            // NICs (the switch-over's chain, docs/benchmarks.md). The stop's PostStop runs here, not in the state
            // before (it would close the channel again: harmless, but not this state's).
            open.get().handOver(MigrationEvents.CLOSING_HANDLER);
            open.get().close();
            return Behaviors.stopped(() -> role.inFlight().drain());
        }
        rc.phaseTimer("closing the migration channel", rc.timeouts().step());
        open.get().close();
        return Receive.of(Command.class)
                .onMessage(GetState.class, m -> SourceMigration.stateIs(m, confirmed ? "completed" : "completedUnconfirmed"))
                .onMessage(ReturnClosed.class, m -> Behaviors.stopped())
                .onMessage(PhaseTimedOut.class, m -> Behaviors.stopped())
                .onMessage(ReturnFrame.class, m -> {
                    m.frame().close(); // read before the close: nothing is waiting for it now
                    return Behaviors.same();
                })
                .onMessage(NicReply.class, m -> {
                    rc.dropLate(m.reply());
                    return Behaviors.same();
                })
                .onSignal(PostStop.class, signal -> {
                    role.inFlight().drain();
                    return Behaviors.same();
                })
                .build(rc.id());
    }

    /** Close everything received, tell the source (if it still listens), report failed. */
    private static Behavior<Command> fail(Role role, Figures f, Optional<CompletableFuture<FrameChannel>> accepting,
            Optional<FrameChannel> channel, long nextRequestId, String reason) {
        RoleContext rc = role.rc();
        rc.timers().cancelAll();
        accepting.ifPresent(TargetMigration::abandonAccept);
        rc.ctx().getLog().warn("migration {}: {}", rc.id(), reason);
        Optional<FrameChannel> toClose = channel;
        if (channel.isPresent() && channel.get().isOpen()) {
            // closed once the answer is out: closing at once could drop it (the source then only sees the close)
            rc.closeAfter(channel.get(), channel.get().send(ReturnPath.failed(reason), List.of()));
            toClose = Optional.empty();
        }
        rc.phaseTimer("discarding", rc.timeouts().step());
        FanOut<VirtioNetActor.Discarded> discard = rc.askNics(nextRequestId, "discard", VirtioNetActor.Discarded.class,
                (nic, id) -> new VirtioNetActor.Discard(id, rc.nicReplies().narrow(), rc.id()));
        if (discard.complete()) {
            rc.ctx().getSelf().tell(new Discarded());
        }
        return discarding(role, new Discarding(f, reason, Optional.of(discard).filter(d -> !d.complete()), toClose));
    }

    private static Behavior<Command> discarding(Role role, Discarding d) {
        RoleContext rc = role.rc();
        return common(role, Optional.empty(), d.toClose(), Receive.of(Command.class)
                .onMessage(GetState.class, m -> SourceMigration.stateIs(m, "discarding"))
                .onMessage(NicReply.class, m -> {
                    if (d.discard().isEmpty()) {
                        rc.dropLate(m.reply());
                        return Behaviors.same();
                    }
                    FanOut.Outcome<VirtioNetActor.Discarded> o = d.discard().get().offer(m.reply().requestId(), m.reply(),
                            rc.timers());
                    if (o instanceof FanOut.Waiting<VirtioNetActor.Discarded> w) {
                        return discarding(role, new Discarding(d.figures(), d.reason(), Optional.of(w.next()), d.toClose()));
                    }
                    if (o instanceof FanOut.Gathered) {
                        rc.ctx().getSelf().tell(new Discarded());
                        return discarding(role, new Discarding(d.figures(), d.reason(), Optional.empty(), d.toClose()));
                    }
                    rc.dropLate(m.reply());
                    return Behaviors.same();
                })
                .onMessage(FanOutTimedOut.class, m -> {
                    d.discard().filter(x -> x.firstRequestId() == m.firstRequestId()).ifPresent(x -> rc.ctx().getSelf()
                            .tell(new StepFailed("discarding", "discard: " + RoleContext.failureText(x))));
                    return Behaviors.same();
                })
                .onMessage(Discarded.class, m -> failed(role, d, d.reason()))
                // the discard's limit: report what failed, as when every NIC answered
                .onMessage(PhaseTimedOut.class, m -> failed(role, d, d.reason()))
                // a failure told before this one (a load that failed) is added to the reason
                .onMessage(StepFailed.class, m -> failed(role, d, d.reason() + "; " + m.description()))
                .onMessage(Cancel.class, m -> Behaviors.same())
                .onMessage(SectionIn.class, m -> {
                    m.section().close(); // still in flight when the migration failed: never leak its fds
                    return Behaviors.same();
                }), r -> Behaviors.same());
    }

    private static Behavior<Command> failed(Role role, Discarding d, String desc) {
        RoleContext rc = role.rc();
        long now = rc.clock().nanos();
        MigrationInfo info = new MigrationInfo(rc.id(), MigrationStatus.FAILED, d.figures().info().setupTimeMs(), -1,
                RoleContext.ms(now - d.figures().startedAt()), desc, 0, 0, false);
        RoutineLog.info(rc.ctx().getLog(), "migration {}: status failed ({})", rc.id(), desc);
        rc.report().tell(new Progress(info));
        rc.report().tell(new Finished(info, false, false, false));
        return Behaviors.stopped();
    }

    /**
     * This side gave up (or stops) while the transport may still accept: stop it listening, and
     * close a channel it already accepted whose {@code Connected} is still queued behind the
     * failure (or would reach this actor only after it stopped). A late connection is otherwise
     * never closed: the chaos runner found a failed target holding its accepted migration socket
     * after SIGSTOP/SIGCONT made the channel timeout and the accept fire together.
     */
    private static void abandonAccept(CompletableFuture<FrameChannel> accepting) {
        if (!accepting.cancel(false) && !accepting.isCompletedExceptionally()) {
            accepting.join().close();
        }
    }

    /**
     * What every state handles alike: frames and sections no state expects are closed, anything
     * else is unhandled (a dead-letter notice); a NIC that stops fails the migration. On stop (from outside too):
     * the accept abandoned, the channel this state owns closed, every section still in the stream closed.
     */
    private static Behavior<Command> common(Role role, Optional<CompletableFuture<FrameChannel>> accepting,
            Optional<FrameChannel> owned, Receive<Command> b, Function<String, Behavior<Command>> onNicStopped) {
        RoleContext rc = role.rc();
        return b.onMessage(ReturnFrame.class, m -> {
                    m.frame().close(); // a frame no state expects: never leak its fds
                    return Behaviors.same();
                })
                .onMessage(SectionIn.class, m -> {
                    m.section().close(); // a section no state expects: never leak its fds
                    return Behaviors.same();
                })
                .onMessage(NicReply.class, m -> {
                    rc.dropLate(m.reply());
                    return Behaviors.same();
                })
                .onAnyMessage(m -> {
                    // not this state's: Pekko publishes it as unhandled (logged as a dead letter), the state does not change
                    rc.ctx().getLog().debug("migration {}: {} not handled in this state", rc.id(), m.getClass().getSimpleName());
                    return Behaviors.unhandled();
                })
                .onSignal(PostStop.class, signal -> {
                    accepting.ifPresent(TargetMigration::abandonAccept);
                    owned.ifPresent(FrameChannel::close);
                    role.inFlight().drain();
                    return Behaviors.same();
                })
                .onSignal(Terminated.class, t -> onNicStopped.apply("NIC " + t.getRef().path().name()
                        + " stopped during the migration"))
                .build(rc.id());
    }
}
