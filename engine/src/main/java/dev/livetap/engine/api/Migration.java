package dev.livetap.engine.api;

import dev.livetap.engine.internal.EndpointCore;
import dev.livetap.engine.internal.VmListener;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A {@link MigrationHandle}: subscribes to the source's events before sending {@code migrate}
 * (QEMU emits {@code setup} before the command's reply), follows the statuses to the final one and
 * reads the figures with {@code query-migrate}. Events before this migration's {@code setup} belong
 * to an earlier one and are ignored.
 */
final class Migration implements MigrationHandle {
    private final VirtualMachine vm;
    private final EndpointCore core;
    private final CompletableFuture<Void> accepted = new CompletableFuture<>();
    private final CompletableFuture<MigrationOutcome> outcome = new CompletableFuture<>();
    private final AtomicReference<EndpointCore.Subscription> subscription = new AtomicReference<>();
    /** Touched only by the listener actor: the last non-final status of this migration, null before setup. */
    private MigrationStatus last;
    /** Set once the final status arrived: the subscription's end is then ours, not the VM's. */
    private volatile boolean ending;

    private Migration(VirtualMachine vm, EndpointCore core) {
        this.vm = vm;
        this.core = core;
    }

    static MigrationHandle start(VirtualMachine vm, EndpointCore core, String uri) {
        Migration m = new Migration(vm, core);
        core.subscribe(new VmListener() {
            @Override
            public void onEvent(dev.livetap.actors.vm.VmEvent e) {
                if (VirtualMachine.event(e) instanceof VmEvent.MigrationStatusChanged c) {
                    m.onStatus(c.status());
                }
            }

            @Override
            public void onClosed() {
                if (m.ending) {
                    return;
                }
                m.outcome.completeExceptionally(new LivetapException(LivetapException.GENERIC, "VM " + vm.name()
                        + " stopped before its migration ended"));
            }
        }).whenComplete((sub, e) -> {
            if (e != null) {
                m.accepted.completeExceptionally(e);
                m.outcome.completeExceptionally(e);
                return;
            }
            m.subscription.set(sub);
            if (m.outcome.isDone()) {
                sub.close();
                return;
            }
            core.migrate(uri).whenComplete((v, refused) -> {
                if (refused != null) {
                    Throwable cause = LivetapException.unwrap(refused) != null ? LivetapException.unwrap(refused) : refused;
                    m.accepted.completeExceptionally(cause);
                    m.outcome.completeExceptionally(cause);
                    sub.close();
                } else {
                    m.accepted.complete(null);
                }
            });
        });
        return m;
    }

    private void onStatus(MigrationStatus status) {
        if (last == null && status != MigrationStatus.SETUP) {
            return; // an earlier migration's late event
        }
        if (!status.isFinal()) {
            if (status != MigrationStatus.CANCELLING) {
                last = status;
            }
            return;
        }
        MigrationPhase phase = switch (last) {
            case ACTIVE -> MigrationPhase.ACTIVE;
            case PRE_SWITCHOVER -> MigrationPhase.PRE_SWITCHOVER;
            case DEVICE -> MigrationPhase.DEVICE;
            default -> MigrationPhase.SETUP;
        };
        ending = true;
        EndpointCore.Subscription s = subscription.get();
        if (s != null) {
            s.close();
        }
        core.query().whenComplete((i, e) -> {
            if (e != null) {
                outcome.completeExceptionally(e);
                return;
            }
            MigrationInfo info = VirtualMachine.info(i);
            outcome.complete(switch (status) {
                case COMPLETED -> new MigrationOutcome.Completed(info);
                case CANCELLED -> new MigrationOutcome.Cancelled(phase, info);
                default -> new MigrationOutcome.Failed(phase, info.error().orElse("failed"), info);
            });
        });
    }

    @Override
    public CompletionStage<Void> accepted() {
        return accepted.copy();
    }

    @Override
    public CompletionStage<MigrationOutcome> outcome() {
        return outcome.copy();
    }

    @Override
    public CompletionStage<Void> cancel() {
        if (outcome.isDone()) {
            return CompletableFuture.completedFuture(null);
        }
        // a refused migrate has nothing to cancel
        return accepted.handle((v, refused) -> refused == null && !outcome.isDone())
                .thenCompose(send -> send ? core.cancel() : CompletableFuture.<Void>completedFuture(null));
    }

    @Override
    public String toString() {
        return "MigrationHandle(" + vm.name() + ", " + (outcome.isDone() ? "ended" : "running") + ")";
    }
}
