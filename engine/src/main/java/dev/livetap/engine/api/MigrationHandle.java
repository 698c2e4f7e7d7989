package dev.livetap.engine.api;

import java.util.concurrent.CompletionStage;

/**
 * One outgoing migration started by {@link VirtualMachine#migrate(String)}. Stages complete on
 * actor threads: chain with non-{@code Async} methods or your own executor, never block in them.
 */
public interface MigrationHandle {
    /**
     * The {@code migrate} command's own answer: completes when the migration started (status
     * {@code setup}), or fails with the {@link LivetapException} QMP would answer (a migration
     * already running, {@code local} with a non-UNIX URI, ...).
     */
    CompletionStage<Void> accepted();

    /**
     * Completes once, when the migration reached a final status: {@link MigrationOutcome.Completed},
     * {@link MigrationOutcome.Failed} with the phase and QEMU's cause, or
     * {@link MigrationOutcome.Cancelled}. Fails with the same exception as {@link #accepted()} when
     * the command was refused, and with a {@link LivetapException} when the VM stopped first.
     */
    CompletionStage<MigrationOutcome> outcome();

    /**
     * {@code migrate_cancel} for this migration. Its meaning by phase:
     * <ul>
     *   <li>{@code setup}, {@code active}, {@code pre-switchover}, {@code device} (the source has not
     *       received the target's {@code loaded}): status {@code cancelling}, then {@code cancelled};
     *       the source rolls back: it keeps its TAP queues, reading again, and resumes if it was
     *       running when {@code migrate} started (a cancel in the {@code pre-switchover} hold leaves it
     *       paused until {@code cont}, docs/qmp.md); the target closes every fd it received.
     *       {@link #outcome()} becomes {@link MigrationOutcome.Cancelled}.</li>
     *   <li>while a rollback already runs ({@code cancelling}, or a failure being rolled back): no
     *       further effect.</li>
     *   <li>after {@code completed}, {@code failed} or {@code cancelled}: changes nothing (as QEMU's
     *       {@code migrate_cancel}); the stage completes at once and no command is sent, so it can never
     *       cancel a later migration of the same VM.</li>
     * </ul>
     * The stage completes when the VM took the request, not when the rollback finished: follow
     * {@link #outcome()} for that.
     */
    CompletionStage<Void> cancel();
}
