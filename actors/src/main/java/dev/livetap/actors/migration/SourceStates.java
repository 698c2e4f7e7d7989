package dev.livetap.actors.migration;

import dev.livetap.actors.FanOut;
import dev.livetap.actors.migration.MigrationCoordinator.SourceSetup;
import dev.livetap.actors.migration.RoleContext.Figures;
import dev.livetap.actors.nic.VirtioNetActor;
import dev.livetap.actors.options.MigrationStatus;
import dev.livetap.codec.Section;
import dev.livetap.nativeio.FrameChannel;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.stream.Materializer;

/** {@link SourceMigration}'s state records: what its behaviours carry from state to state. */
final class SourceStates {
    private SourceStates() {
    }

    /** What the role keeps for its whole life. */
    record Role(RoleContext rc, SourceSetup setup, Materializer materializer,
            CompletableFuture<List<Section>> sectionsToSend, CompletableFuture<Void> streamEnded) {
        /**
         * The stream's end is told and may come after the role has finished (the target can answer
         * {@code loaded} before the last write's completion is told): the role stays until it has
         * come, so it never reaches a stopped actor as a dead letter. The stream completes
         * {@code streamEnded} just before it tells its end: a role that finds it open will still
         * receive that message.
         */
        boolean streamRunning(boolean started) {
            return started && !streamEnded.isDone();
        }
    }

    /** The switch-over in progress: the open gathers and what they gave so far. */
    record SwitchOver(Figures figures, FrameChannel channel, long nextRequestId,
            Optional<FanOut<VirtioNetActor.Stopped>> stop, long stoppedAt,
            Optional<FanOut<VirtioNetActor.SaveResult>> save, Optional<List<Section>> saved) {
        SwitchOver {
            saved = saved.map(List::copyOf);
        }

        SwitchOver withFigures(Figures f) {
            return new SwitchOver(f, channel, nextRequestId, stop, stoppedAt, save, saved);
        }

        SwitchOver withStop(Optional<FanOut<VirtioNetActor.Stopped>> s, long at) {
            return new SwitchOver(figures, channel, nextRequestId, s, at, save, saved);
        }

        SwitchOver withSave(Optional<FanOut<VirtioNetActor.SaveResult>> s, Optional<List<Section>> sections) {
            return new SwitchOver(figures, channel, s.map(FanOut::nextRequestId).orElse(nextRequestId), stop, stoppedAt,
                    s, sections);
        }
    }

    /** How the migration ends after a failure; {@code streamStarted}: the channel was connected. */
    record Ending(Figures figures, MigrationStatus end, String desc, boolean queuesStopped,
            Optional<FanOut<VirtioNetActor.RolledBack>> rollback, boolean streamStarted) {
        Ending withRollback(Optional<FanOut<VirtioNetActor.RolledBack>> r) {
            return new Ending(figures, end, desc, queuesStopped, r, streamStarted);
        }
    }
}
