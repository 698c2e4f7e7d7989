package dev.livetap.actors.nic;

import dev.livetap.actors.MigrationMdc;
import dev.livetap.actors.options.PeerState;
import dev.livetap.codec.Schema;
import dev.livetap.codec.StateStruct;
import org.apache.pekko.actor.DeadLetterSuppression;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * What a virtio-net frontend asks of one peer backend (one queue), whatever the backend is: the
 * review of the QEMU series asked for a backend API rather than frontend knowledge of TAP (design
 * semantic 5). Each backend describes its own state ({@link Describe} answers with its codec
 * {@link Schema}), saves it, loads it, and gives it up or takes it back. The TAP implementation
 * is {@code dev.livetap.actors.tap.TapPeerBackend}.
 */
public final class PeerBackend {
    private PeerBackend() {
    }

    /** Every reply of a peer names its queue and carries the id of the request it answers. */
    public interface QueueReply {
        long requestId();

        int queue();
    }

    /** The protocol every peer backend actor speaks. */
    public sealed interface Command
            permits Describe, Stop, Start, Save, Load, Release, Rollback, Discard, Transmit, GetStatus, Close {
    }

    /** Asks for the backend's state description (its schema) and what it offers the frontend. */
    public record Describe(long requestId, ActorRef<Description> replyTo) implements Command {
        /** Without a request id (an asker that matches nothing). */
        public Describe(ActorRef<Description> replyTo) {
            this(0, replyTo);
        }
    }

    /**
     * @param hostFeatures virtio-net feature bits this backend can carry (see {@link VirtioNetFeatures});
     *                     for a peer still waiting for incoming state, the full set
     */
    public record Description(long requestId, int queue, Schema schema, PeerState state, long hostFeatures) implements QueueReply {
    }

    /** VM stop: stop reading on a frame boundary. */
    public record Stop(long requestId, ActorRef<Stopped> replyTo, String migrationId) implements Command, MigrationMdc.Tagged {
        public Stop(long requestId, ActorRef<Stopped> replyTo) {
            this(requestId, replyTo, null);
        }

        /** Without a request id (an asker that matches nothing). */
        public Stop(ActorRef<Stopped> replyTo) {
            this(0, replyTo);
        }
    }

    public record Stopped(long requestId, int queue, long atNanos) implements QueueReply {
    }

    /** VM run: read again. {@code reading} is false where the backend cannot (no fd, handed over). */
    public record Start(long requestId, ActorRef<Started> replyTo, String migrationId) implements Command, MigrationMdc.Tagged {
        public Start(long requestId, ActorRef<Started> replyTo) {
            this(requestId, replyTo, null);
        }

        /** Without a request id (an asker that matches nothing). */
        public Start(ActorRef<Started> replyTo) {
            this(0, replyTo);
        }
    }

    public record Started(long requestId, int queue, long atNanos, boolean reading) implements QueueReply {
    }

    /** pre_save: lend the (stopped) backend's state to the stream; it stays the backend's until {@link Release}. */
    public record Save(long requestId, ActorRef<SaveReply> replyTo, String migrationId) implements Command, MigrationMdc.Tagged {
        public Save(long requestId, ActorRef<SaveReply> replyTo) {
            this(requestId, replyTo, null);
        }

        /** Without a request id (an asker that matches nothing). */
        public Save(ActorRef<SaveReply> replyTo) {
            this(0, replyTo);
        }
    }

    public sealed interface SaveReply extends QueueReply permits Saved, SaveFailed {
        int queue();
    }

    /** The state; its fds are borrowed from the backend. */
    public record Saved(long requestId, int queue, StateStruct state) implements SaveReply {
    }

    public record SaveFailed(long requestId, int queue, String reason) implements SaveReply {
    }

    /** pre_load, checks and post_load of an incoming state; its fds pass to the backend (closed on refusal). */
    public record Load(long requestId, StateStruct state, ActorRef<LoadReply> replyTo, String migrationId) implements Command, MigrationMdc.Tagged {
        public Load(long requestId, StateStruct state, ActorRef<LoadReply> replyTo) {
            this(requestId, state, replyTo, null);
        }

        /** Without a request id (an asker that matches nothing). */
        public Load(StateStruct state, ActorRef<LoadReply> replyTo) {
            this(0, state, replyTo);
        }
    }

    public sealed interface LoadReply extends QueueReply permits Loaded, LoadFailed {
        int queue();
    }

    /** @param hostFeatures virtio-net feature bits the loaded backend can carry */
    public record Loaded(long requestId, int queue, long hostFeatures) implements LoadReply {
    }

    public record LoadFailed(long requestId, int queue, String reason) implements LoadReply {
    }

    /**
     * Source, the target answered {@code loaded} (or a migration without backend transfer completed): give the resource up.
     * Lost without news when the VM stops first ({@code quit} right after {@code completed}): the stop gives it up too.
     */
    public record Release(String migrationId) implements Command, MigrationMdc.Tagged, DeadLetterSuppression {
        public Release() {
            this(null);
        }
    }

    /** Source, the migration failed before {@code loaded}: take the state back, stopped. */
    public record Rollback(long requestId, ActorRef<Stopped> replyTo, String migrationId) implements Command, MigrationMdc.Tagged {
        public Rollback(long requestId, ActorRef<Stopped> replyTo) {
            this(requestId, replyTo, null);
        }

        /** Without a request id (an asker that matches nothing). */
        public Rollback(ActorRef<Stopped> replyTo) {
            this(0, replyTo);
        }
    }

    /** Target, the migration failed: close whatever arrived and wait again. */
    public record Discard(long requestId, ActorRef<Discarded> replyTo, String migrationId) implements Command, MigrationMdc.Tagged {
        public Discard(long requestId, ActorRef<Discarded> replyTo) {
            this(requestId, replyTo, null);
        }

        /** Without a request id (an asker that matches nothing). */
        public Discard(ActorRef<Discarded> replyTo) {
            this(0, replyTo);
        }
    }

    public record Discarded(long requestId, int queue, boolean closedSomething) implements QueueReply {
    }

    /** A frame from the guest towards the backend (the host side). */
    public record Transmit(byte[] frame) implements Command {
    }

    public record GetStatus(long requestId, ActorRef<Status> replyTo) implements Command {
        /** Without a request id (an asker that matches nothing). */
        public GetStatus(ActorRef<Status> replyTo) {
            this(0, replyTo);
        }
    }

    /** @param state the backend's own state name (for a TAP queue: active, paused, transferred, ...) */
    public record Status(long requestId, int queue, String state, boolean reading, boolean ownsResource) implements QueueReply {
    }

    /** device_del / netdev_del / shutdown: close and stop. */
    public record Close() implements Command {
    }
}
