package dev.livetap.actors.vm;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.migration.SwitchoverStepEvent;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.actors.options.RunState;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
/**
 * {@link VmActor}'s gathers over its NICs (stop, start, query-nics): one {@link FanOut} per operation in the
 * VM's state, answered by request id, with a timeout; what the gather was for happens when every NIC answered.
 */
final class VmNicGathers {
    private VmNicGathers() {
    }

    /** VM run: every queue reads again; the last one to start marks the end of the target's downtime. */
    static VmState startNics(VmActor.Env e, VmState s, boolean byCont, Optional<ActorRef<VmReply>> replyTo) {
        return startNics(e, s, byCont, replyTo, null);
    }

    /** @param migrationId the migration that starts the VM (its queues log their start with it), or null */
    static VmState startNics(VmActor.Env e, VmState s, boolean byCont, Optional<ActorRef<VmReply>> replyTo, String migrationId) {
        return startNics(e, s, new VmState.StartVm(byCont, replyTo), migrationId);
    }

    static VmState startNics(VmActor.Env e, VmState s, VmState.StartVm start, String migrationId) {
        return askNics(e, s, "start", VirtioNetActor.Started.class,
                (requestId, r) -> new VirtioNetActor.Start(requestId, r, migrationId), start);
    }

    /** Asks every NIC (in device-id order); with none, the gather is complete at once. */
    static <R> VmState askNics(VmActor.Env e, VmState s, String what, Class<R> replyType,
            BiFunction<Long, ActorRef<R>, VirtioNetActor.Command> request, VmState.Purpose purpose) {
        List<DeviceTable.Nic> nics = s.devices().nicList();
        if (nics.isEmpty()) {
            return gathered(e, s, purpose, List.of());
        }
        @SuppressWarnings("unchecked")
        ActorRef<R> replyTo = (ActorRef<R>) (ActorRef<?>) e.nicReplies();
        FanOut<R> gather = FanOut.scatter(what, replyType, s.nextRequestId(),
                nics.stream().map(DeviceTable.Nic::deviceId).toList(), nics.stream().map(DeviceTable.Nic::ref).toList(),
                (i, requestId) -> request.apply(requestId, replyTo), e.timers(), e.config().queueTimeout(),
                VmActor.NicsTimedOut::new);
        return s.withNicOp(new VmState.NicOp(gather, purpose));
    }

    static Behavior<VmActor.Command> onNicAnswer(VmActor.Env e, VmState s, VirtioNetActor.DeviceReply reply) {
        for (VmState.NicOp op : s.nicOps()) {
            if (op.gather().owns(reply.requestId())) {
                FanOut.Outcome<?> o = op.gather().offer(reply.requestId(), reply, e.timers());
                if (o instanceof FanOut.Waiting<?> w) {
                    return VmActor.next(e, s.replacingNicOp(op, Optional.of(new VmState.NicOp(w.next(), op.purpose()))));
                }
                if (o instanceof FanOut.Gathered<?> g) {
                    return VmActor.next(e, gathered(e, s.replacingNicOp(op, Optional.empty()), op.purpose(), g.replies()));
                }
                break;
            }
        }
        e.ctx().getLog().debug("a late or unexpected NIC reply dropped: {} {}", reply.getClass().getSimpleName(),
                reply.requestId());
        return Behaviors.same();
    }

    static Behavior<VmActor.Command> onNicsTimedOut(VmActor.Env e, VmState s, long firstRequestId) {
        for (VmState.NicOp op : s.nicOps()) {
            if (op.gather().firstRequestId() == firstRequestId) {
                FanOut.TimedOut t = op.gather().timedOut();
                String error = "a NIC did not answer: no " + t.replyType() + " within the timeout";
                VmState next = s.replacingNicOp(op, Optional.empty());
                VmState.Purpose p = op.purpose();
                if (p instanceof VmState.QueryNics q) {
                    q.replyTo().tell(VmReply.Refused.rejected((error)));
                } else if (p instanceof VmState.StopVm stop) {
                    stop.replyTo().tell(VmReply.Refused.rejected((error)));
                } else if (p instanceof VmState.StartVm start) {
                    start.replyTo().ifPresent(r -> r.tell(VmReply.Refused.rejected((error))));
                    if (start.thenAnnounce().isPresent()) {
                        next = VmMigrations.emitMigrationStatus(e, next, start.thenAnnounce().get());
                    }
                    if (next.runState() == RunState.INMIGRATE) {
                        // a target's own resume after completed: end in a defined state (management may cont)
                        e.ctx().getLog().error("VM {}: resuming after the incoming migration failed ({}); it is paused",
                                e.config().name(), error);
                        next = VmActor.changeRunState(e, next, RunState.PAUSED);
                    }
                }
                return VmActor.next(e, next);
            }
        }
        return Behaviors.same(); // the gather completed just before its timer fired
    }

    /** Every NIC answered: what the gather was for happens now. */
    static VmState gathered(VmActor.Env e, VmState s, VmState.Purpose purpose, List<?> replies) {
        if (purpose instanceof VmState.QueryNics q) {
            List<VirtioNetActor.NicInfo> infos = new ArrayList<>();
            replies.forEach(r -> infos.add((VirtioNetActor.NicInfo) r));
            q.replyTo().tell(new VmReply.Nics(infos));
            return s;
        }
        if (purpose instanceof VmState.StopVm stop) {
            VmState next = VmActor.changeRunState(e, s, RunState.PAUSED);
            stop.replyTo().tell(VmActor.DONE);
            return next;
        }
        VmState.StartVm start = (VmState.StartVm) purpose;
        long last = 0;
        for (Object r : replies) {
            last = Math.max(last, ((VirtioNetActor.Started) r).lastReadingNanos());
        }
        VmState next = s;
        MigrationInfo info = s.lastInfo();
        if (!s.outgoing() && info.status() == MigrationStatus.COMPLETED && info.targetStartedNanos() == 0) {
            next = next.withLastInfo(info.withTargetStarted(last == 0 ? e.config().os().clock().nanos() : last,
                    start.byCont()));
            SwitchoverStepEvent.step(info.migrationId(), SwitchoverStepEvent.TARGET, "queues reading (last start)",
                    next.lastInfo().targetStartedNanos());
        }
        next = VmActor.changeRunState(e, next, RunState.RUNNING);
        start.replyTo().ifPresent(r -> r.tell(VmActor.DONE));
        return start.thenAnnounce().isPresent() ? VmMigrations.emitMigrationStatus(e, next, start.thenAnnounce().get()) : next;
    }
}
