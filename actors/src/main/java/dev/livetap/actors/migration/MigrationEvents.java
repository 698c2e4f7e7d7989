package dev.livetap.actors.migration;

import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.codec.Section;
import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import org.apache.pekko.actor.DeadLetterSuppression;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The private messages of both migration roles: outcomes of the channel, the stream, the NICs and
 * the timers, each a type of its own (no control flow on strings).
 */
final class MigrationEvents {
    private MigrationEvents() {
    }

    /** Every message a role sends itself (or receives from its stream, its channel, its timers). */
    sealed interface Event extends MigrationCoordinator.Command {
    }

    record Connected(FrameChannel channel) implements Event {
    }

    record ChannelFailed(Throwable cause) implements Event {
    }

    /** A phase's timer fired: the phase took longer than its limit. */
    record PhaseTimedOut(String phase, long limitMs) implements Event {
        String text() {
            return phase + " took longer than " + limitMs + " ms";
        }
    }

    /** Source: {@code x-switchover-limit}, counted from the stop, was exceeded. */
    record SwitchoverLimitExceeded(long limitMs) implements Event {
        String text() {
            return "switch-over exceeded x-switchover-limit of " + limitMs + " ms; rolled back";
        }
    }

    /** A step of {@code phase} failed; {@code description} is the text users see. */
    record StepFailed(String phase, String description) implements Event {
    }

    /** A NIC's reply, matched to its request by its request id ({@link dev.livetap.actors.FanOut}). */
    record NicReply(VirtioNetActor.DeviceReply reply) implements Event {
    }

    /** The timer of the gather that starts at {@code firstRequestId}. */
    record FanOutTimedOut(long firstRequestId) implements Event {
    }

    /**
     * Source: the stream runs and its header is on its way to the target. The stream's three
     * messages are no news once the role has gone (a VM stopped from outside stops it at once).
     */
    record StreamStarted() implements Event, DeadLetterSuppression {
    }

    record StreamSent() implements Event, DeadLetterSuppression {
    }

    record StreamSendFailed(Throwable cause) implements Event, DeadLetterSuppression {
    }

    record ReturnFrame(Frame frame) implements Event {
    }

    /** Also sent when the role's own PostStop closes the channel: a dead letter then, and no news. */
    record ReturnClosed(Throwable cause) implements Event, DeadLetterSuppression {
    }

    /** A decoded section from the target's stream (the stream's own actor sink sends it; no ack). */
    record SectionIn(Section section) implements Event {
    }

    record StreamDone() implements Event {
    }

    record StreamFailed(Throwable cause) implements Event {
    }

    /** The decoder's failure as the stream's last element (see where the target's stream is built). */
    record StreamBroken(Throwable cause) {
    }

    /** May arrive after the source's answer ended the role: a dead letter then, and no news. */
    record LoadedSent(Throwable failure) implements Event, DeadLetterSuppression {
    }

    /** Source: every NIC rolled back. */
    record RolledBack() implements Event {
    }

    /** Target: every NIC closed what it received. */
    record Discarded() implements Event {
    }

    /**
     * Source: the end was reported; the actor stops (see {@code SourceMigration.ended}). Lost,
     * without news, when the VM stops the role first (a {@code quit} right after {@code completed}).
     */
    record Ended() implements Event, DeadLetterSuppression {
    }

    /** The receiver of a channel whose role is done: a frame (none is expected) is closed, the end ignored. */
    static final FrameChannel.FrameHandler CLOSING_HANDLER = new FrameChannel.FrameHandler() {
        @Override
        public void onFrame(Frame frame) {
            frame.close();
        }

        @Override
        public void onClosed(Throwable cause) {
            // nobody waits for it
        }
    };

    /** The return path's frames and its end, as messages to the role (the one handler both roles use). */
    record ReturnPathHandler(ActorRef<MigrationCoordinator.Command> self) implements FrameChannel.FrameHandler {
        @Override
        public void onFrame(Frame frame) {
            self.tell(new ReturnFrame(frame));
        }

        @Override
        public void onClosed(Throwable cause) {
            self.tell(new ReturnClosed(cause));
        }
    }
}
