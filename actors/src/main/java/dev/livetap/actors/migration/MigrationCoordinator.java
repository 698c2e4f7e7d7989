package dev.livetap.actors.migration;

import dev.livetap.actors.StateName;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationParameters;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.actors.options.RunState;
import dev.livetap.codec.StreamHeader;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.MonotonicClock;
import dev.livetap.nativeio.OwnedFd;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;

/**
 * One migration, source or target role. It opens no socket: a {@link MigrationTransport} gives it
 * the channel. Sections flow through the codec's Pekko Streams pipeline (encode flow → channel
 * sink; channel source → decode flow → this actor, which queues the sections itself); the target answers on the
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
 *
 * <p>This class is the protocol and the two factories; each role is an actor of its own
 * ({@link SourceMigration}, {@link TargetMigration}) whose states are behaviours carrying immutable
 * records, and which gathers its NICs' replies with {@link dev.livetap.actors.FanOut}.
 */
public final class MigrationCoordinator {
    /** The MDC key every log line of a migration carries. */
    public static final String MDC_KEY = dev.livetap.actors.MigrationMdc.KEY;
    /** Source-crash rule (semantic 7), in the target's error. */
    public static final String DEVICE_LOST =
            "the migration source went away before every section loaded: the TAP device is lost"
                    + " (closing its fds destroys a non-persistent TAP)";
    /**
     * The target's error when the stream broke before any TAP fd arrived: it received nothing and
     * closing nothing destroys a TAP (the source's TAP is intact while the source runs: a rogue peer's
     * bytes; it is gone with the source if the source died).
     */
    public static final String NOTHING_RECEIVED = "the migration stream broke before any TAP fd arrived: this target"
            + " received and holds nothing, and destroyed no TAP (the source's TAP is intact if the source still runs)";

    private MigrationCoordinator() {
    }

    /** The public messages, and the roles' private ones ({@link MigrationEvents}). */
    public sealed interface Command permits Cancel, ContinueSwitchover, GetState, MigrationEvents.Event {
    }

    /** Read-only: the current state's name as the role's diagram in docs/architecture.md writes it. */
    public record GetState(ActorRef<StateName> replyTo) implements Command {
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
    public record Finished(MigrationInfo info, boolean succeeded, boolean backendHandedOver, boolean peerConfirmed,
            boolean sourceRunning) implements Report {
        /** A source's end, or a target's whose source was running. */
        public Finished(MigrationInfo info, boolean succeeded, boolean backendHandedOver, boolean peerConfirmed) {
            this(info, succeeded, backendHandedOver, peerConfirmed, true);
        }
    }

    /**
     * A NIC of the VM and whether its backend travels (semantic 1: {@code local} and {@code backend-transfer}).
     * {@code refusesBackend}, on a target: why this NIC refuses backend state the stream brings (its
     * own switches are off), empty when it takes it.
     */
    public record Nic(String deviceId, ActorRef<VirtioNetActor.Command> ref, boolean backendTravels,
            Optional<String> refusesBackend) {
        public Nic(String deviceId, ActorRef<VirtioNetActor.Command> ref, boolean backendTravels) {
            this(deviceId, ref, backendTravels, Optional.empty());
        }
    }

    /**
     * @param pauseBeforeSwitchover capability {@code pause-before-switchover}: after the stop, report
     *     {@code pre-switchover} and wait for {@link ContinueSwitchover} before saving anything
     * @param vmRunning the VM ran when {@code migrate} started: the target resumes by itself only
     *     then (the run state travels in {@code completed}, QEMU's global_state)
     * @param socket for an {@code fd:} URI, the connected AF_UNIX socket it names (the role's from now
     *     on); empty for {@code unix:}, which the role connects itself
     */
    public record SourceSetup(String migrationId, MigrationUri uri, MigrationParameters parameters, List<Nic> nics,
            StreamHeader header, MigrationTransport transport, MonotonicClock clock, MigrationTimeouts timeouts,
            boolean pauseBeforeSwitchover, boolean vmRunning, Optional<OwnedFd> socket) {
        public SourceSetup {
            nics = List.copyOf(nics);
            if (!(uri instanceof MigrationUri.Unix) && socket.isEmpty()) {
                throw new IllegalArgumentException("a source channel is a unix: URI or a passed socket; got " + uri.uri());
            }
        }

        /** Over a {@code unix:} URI. */
        public SourceSetup(String migrationId, MigrationUri.Unix uri, MigrationParameters parameters, List<Nic> nics,
                StreamHeader header, MigrationTransport transport, MonotonicClock clock, MigrationTimeouts timeouts,
                boolean pauseBeforeSwitchover, boolean vmRunning) {
            this(migrationId, uri, parameters, nics, header, transport, clock, timeouts, pauseBeforeSwitchover, vmRunning,
                    Optional.empty());
        }

        /** Of a running VM. */
        public SourceSetup(String migrationId, MigrationUri.Unix uri, MigrationParameters parameters, List<Nic> nics,
                StreamHeader header, MigrationTransport transport, MonotonicClock clock, MigrationTimeouts timeouts,
                boolean pauseBeforeSwitchover) {
            this(migrationId, uri, parameters, nics, header, transport, clock, timeouts, pauseBeforeSwitchover, true);
        }

        /** Without {@code pause-before-switchover}. */
        public SourceSetup(String migrationId, MigrationUri.Unix uri, MigrationParameters parameters, List<Nic> nics,
                StreamHeader header, MigrationTransport transport, MonotonicClock clock, MigrationTimeouts timeouts) {
            this(migrationId, uri, parameters, nics, header, transport, clock, timeouts, false);
        }
    }

    /**
     * @param accepting the transport's {@link MigrationTransport#acceptOne} at {@code uri}, already
     *     listening: the VM listens before it answers {@code migrate-incoming} (QEMU binds in
     *     qmp_migrate_incoming), so a bind error is the command's error and nothing starts
     */
    public record TargetSetup(String migrationId, MigrationUri.Unix uri, List<Nic> nics,
            CompletableFuture<FrameChannel> accepting, MonotonicClock clock, MigrationTimeouts timeouts) {
        public TargetSetup {
            nics = List.copyOf(nics);
        }
    }

    /**
     * Both roles resume after a handler throws: the message is lost and the state (a behaviour with
     * its record) stays, so the phase timer or a gather's timeout turns the loss into
     * {@code PhaseTimedOut}/{@code StepFailed} and the role's own failure path runs (source: roll
     * the NICs back, queues paused with their fds; target: discard the fds that arrived). Restart
     * would re-run set-up (connect or accept again, a new stream) on top of a half-used channel and
     * forget the gathers whose replies are in flight; stop would leave the VM, which only watches the
     * role ({@code Terminated}), with its NICs stopped or transferred and nobody to roll them back.
     * The role's fds (the channel; on the target the sections in flight) are closed only on PostStop.
     */
    public static final SupervisorStrategy SUPERVISION = SupervisorStrategy.resume();

    public static Behavior<Command> source(SourceSetup setup, ActorRef<Report> report) {
        return SourceMigration.create(setup, report);
    }

    public static Behavior<Command> target(TargetSetup setup, ActorRef<Report> report) {
        return TargetMigration.create(setup, report);
    }
}
