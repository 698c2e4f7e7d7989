package dev.livetap.actors.vm;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.migration.MigrationCoordinator;
import dev.livetap.actors.migration.MigrationInfo;
import dev.livetap.actors.options.MigrationCapabilities;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.RunState;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a {@link VmActor} knows, carried by the behaviour of its run state: an immutable record,
 * each change a new one.
 *
 * @param autostart     whether the VM runs by itself when a migration ends: target, once its incoming
 *                      migration completes (no {@code -S}, or a {@code cont} while in {@code inmigrate});
 *                      source, after a failed or cancelled one (it was running when it stopped for the
 *                      switch-over, QEMU's vm_was_running)
 * @param coordinator   the running migration, if any
 * @param outgoing      whether the last migration started here was an outgoing one
 * @param migrations    how many migrations this VM started (names them)
 * @param lastAnnounced the last MIGRATION event sent, as {@code migrationId/status}
 * @param nextRequestId the request id the next NIC gather starts at
 * @param nicOps        the NIC gathers in flight
 */
record VmState(RunState runState, boolean autostart, DeviceTable devices, MigrationParameters parameters,
        MigrationCapabilities capabilities, MigrationInfo lastInfo,
        Optional<ActorRef<MigrationCoordinator.Command>> coordinator, boolean outgoing, int migrations,
        String lastAnnounced, List<ActorRef<VmEvent>> subscribers, long nextRequestId, List<NicOp> nicOps,
        List<ActorRef<VmReply>> cancelsWaiting) {

    VmState {
        subscribers = List.copyOf(subscribers);
        nicOps = List.copyOf(nicOps);
        cancelsWaiting = List.copyOf(cancelsWaiting);
    }

    static VmState initial(VmActor.VmConfig config) {
        RunState first = config.incoming() ? RunState.INMIGRATE
                : config.startPaused() ? RunState.PRELAUNCH : RunState.RUNNING;
        return new VmState(first, !config.startPaused(), DeviceTable.EMPTY, MigrationParameters.defaults(),
                MigrationCapabilities.defaults(), MigrationInfo.NONE, Optional.empty(), false, 0, "", List.of(), 1,
                List.of(), List.of());
    }

    /** What a NIC gather is for: what happens once every NIC answered, or one did not. */
    sealed interface Purpose permits QueryNics, StopVm, StartVm {
    }

    /** {@code query-nics}: the replies are the answer. */
    record QueryNics(ActorRef<VmReply> replyTo) implements Purpose {
    }

    /** {@code stop} of a running VM: paused once every NIC stopped. */
    record StopVm(ActorRef<VmReply> replyTo) implements Purpose {
    }

    /**
     * The VM runs again ({@code cont}, or an incoming migration that completes with autostart).
     * {@code thenAnnounce}: a migration status announced once it runs (QEMU resumes a cancelled
     * source before it reports {@code cancelled}).
     */
    record StartVm(boolean byCont, Optional<ActorRef<VmReply>> replyTo, Optional<MigrationInfo> thenAnnounce)
            implements Purpose {
        StartVm(boolean byCont, Optional<ActorRef<VmReply>> replyTo) {
            this(byCont, replyTo, Optional.empty());
        }
    }

    /** One NIC gather in flight. */
    record NicOp(FanOut<?> gather, Purpose purpose) {
    }

    VmState withRunState(RunState next) {
        return new VmState(next, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withAutostart(boolean next) {
        return new VmState(runState, next, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withDevices(DeviceTable next) {
        return new VmState(runState, autostart, next, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withParameters(MigrationParameters next) {
        return new VmState(runState, autostart, devices, next, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withCapabilities(MigrationCapabilities next) {
        return new VmState(runState, autostart, devices, parameters, next, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withLastInfo(MigrationInfo next) {
        return new VmState(runState, autostart, devices, parameters, capabilities, next, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    /** A migration started: it is the running one, it counts, and query-migrate describes it from now on. */
    VmState withMigrationStarted(ActorRef<MigrationCoordinator.Command> ref, boolean isOutgoing, MigrationInfo starting) {
        return new VmState(runState, autostart, devices, parameters, capabilities, starting, Optional.of(ref), isOutgoing,
                migrations + 1, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withoutCoordinator() {
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, Optional.empty(), outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withLastAnnounced(String next) {
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, next, subscribers, nextRequestId, nicOps, cancelsWaiting);
    }

    VmState withSubscriber(ActorRef<VmEvent> s) {
        List<ActorRef<VmEvent>> next = new ArrayList<>(subscribers);
        next.add(s);
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, next, nextRequestId, nicOps, cancelsWaiting);
    }

    /** A gather started: it is in flight and the next one starts after its ids. */
    VmState withNicOp(NicOp op) {
        List<NicOp> next = new ArrayList<>(nicOps);
        next.add(op);
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, op.gather().nextRequestId(), next, cancelsWaiting);
    }

    /** The gather {@code old} replaced with {@code replacement}, or removed when that is empty. */
    VmState replacingNicOp(NicOp old, Optional<NicOp> replacement) {
        List<NicOp> next = new ArrayList<>(nicOps.size());
        for (NicOp op : nicOps) {
            if (op != old) {
                next.add(op);
            } else {
                replacement.ifPresent(next::add);
            }
        }
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, next, cancelsWaiting);
    }

    /** A {@code migrate_cancel} waits for the coordinator's answer (answers come in the order asked). */
    VmState withCancelWaiting(ActorRef<VmReply> replyTo) {
        List<ActorRef<VmReply>> next = new ArrayList<>(cancelsWaiting);
        next.add(replyTo);
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps, next);
    }

    /** The {@code count} oldest waiting cancels answered. */
    VmState withoutOldestCancels(int count) {
        return new VmState(runState, autostart, devices, parameters, capabilities, lastInfo, coordinator, outgoing,
                migrations, lastAnnounced, subscribers, nextRequestId, nicOps,
                cancelsWaiting.subList(Math.min(count, cancelsWaiting.size()), cancelsWaiting.size()));
    }
}
