package dev.livetap.actors.nic;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.guest.GuestActor;
import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.nic.NicStates.Job;
import dev.livetap.actors.nic.NicStates.Nic;
import dev.livetap.actors.nic.NicStates.State;
import dev.livetap.actors.nic.NicStates.Then;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * {@link VirtioNetActor}'s gathers: one request to every queue (or to the guest), the answers matched by
 * request id into the NIC's state, a timeout per gather, and what was asked for happens when all answered.
 */
final class NicGathers {
    private NicGathers() {
    }

    /** One request to every peer (queue {@code q}'s request carries the id its reply must carry). */
    static <R> State askPeers(Nic nic, State s, String what, Class<R> type,
            FanOut.RequestFactory<PeerBackend.Command> request, boolean stop, Then<R> then) {
        List<String> names = new ArrayList<>();
        for (int q = 0; q < nic.peers().size(); q++) {
            names.add(Integer.toString(q));
        }
        FanOut<R> f = FanOut.scatter(what, type, s.nextRequestId(), names, nic.peers(), request, nic.timers(),
                nic.config().timeout(), VirtioNetActor.GatherTimedOut::new);
        return started(s, new Job<>(f, then, stop, MigrationMdc.current()));
    }

    static State askGuest(Nic nic, State s, Then<GuestActor.GuestSnapshot> then) {
        FanOut<GuestActor.GuestSnapshot> f = FanOut.scatter("guest snapshot", GuestActor.GuestSnapshot.class,
                s.nextRequestId(), List.of("0"), List.of(nic.guest()),
                (i, id) -> new GuestActor.Snapshot(id, nic.guestReplies()), nic.timers(), nic.config().timeout(),
                VirtioNetActor.GatherTimedOut::new);
        return started(s, new Job<>(f, then, false, MigrationMdc.current()));
    }

    static <R> State started(State s, Job<R> job) {
        State next = s.withNextRequestId(job.gather().nextRequestId());
        if (job.gather().complete()) {
            return job.then().apply(next, job.gather().gathered());
        }
        List<Job<?>> jobs = new ArrayList<>(s.jobs());
        jobs.add(job);
        return next.withJobs(jobs);
    }

    static Behavior<VirtioNetActor.Command> onReply(Nic nic, State s, long requestId, Object reply) {
        for (int i = 0; i < s.jobs().size(); i++) {
            Job<?> job = s.jobs().get(i);
            if (job.gather().owns(requestId)) {
                int index = i;
                return MigrationMdc.with(job.migrationId(), () -> VirtioNetActor.next(nic, offer(nic, s, index, job, requestId, reply)));
            }
        }
        nic.ctx().getLog().debug("{}: late reply {} (request {}) dropped", nic.id(), reply.getClass().getSimpleName(),
                requestId);
        return Behaviors.same();
    }

    static <R> State offer(Nic nic, State s, int index, Job<R> job, long requestId, Object reply) {
        FanOut.Outcome<R> o = job.gather().offer(requestId, reply, nic.timers());
        List<Job<?>> jobs = new ArrayList<>(s.jobs());
        if (o instanceof FanOut.Waiting<R> w) {
            jobs.set(index, new Job<>(w.next(), job.then(), job.stop(), job.migrationId()));
            return s.withJobs(jobs);
        }
        if (o instanceof FanOut.Gathered<R> g) {
            jobs.remove(index);
            return job.then().apply(s.withJobs(jobs), g.replies());
        }
        nic.ctx().getLog().debug("{}: second reply {} (request {}) dropped", nic.id(), reply.getClass().getSimpleName(),
                requestId);
        return s;
    }

    /**
     * A peer (or the guest) failed to answer in time: the gather is dropped and its asker, which runs
     * its own timer, reports the step failed and rolls back (every queue answers Rollback in any
     * state). The NIC stays: stopping it would stop its queues, and a queue's PostStop closes an fd
     * that a frame in flight may still borrow. A stop that timed out ends, refusing the saves behind it.
     */
    static Behavior<VirtioNetActor.Command> onTimeout(Nic nic, State s, long firstRequestId) {
        for (Job<?> job : s.jobs()) {
            if (job.gather().firstRequestId() == firstRequestId) {
                return MigrationMdc.with(job.migrationId(), () -> timedOut(nic, s, job));
            }
        }
        return Behaviors.same();
    }

    static Behavior<VirtioNetActor.Command> timedOut(Nic nic, State s, Job<?> job) {
        FanOut.TimedOut t = job.gather().timedOut();
        nic.ctx().getLog().warn("{}: {} of queue {} failed: no {} within the timeout", nic.id(), t.what(),
                t.missing().get(0), t.replyType());
        List<Job<?>> jobs = new ArrayList<>(s.jobs());
        jobs.remove(job);
        State next = s.withJobs(jobs);
        if (job.stop()) {
            refuseStashedSaves(nic, "the stop failed before the save");
            next = next.withStops(next.stopsInFlight() - 1);
        }
        return VirtioNetActor.next(nic, next);
    }

    static void refuseStashedSaves(Nic nic, String reason) {
        nic.stash().forEach(held -> {
            if (held instanceof VirtioNetActor.SaveSection save) {
                save.replyTo().tell(new VirtioNetActor.SectionSaveFailed(save.requestId(), nic.id(), reason));
            }
        });
        nic.stash().clear();
    }
}
