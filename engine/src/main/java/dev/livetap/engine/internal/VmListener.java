package dev.livetap.engine.internal;

import dev.livetap.actors.vm.VmEvent;

/**
 * Receives a VM endpoint's events in order: {@code MIGRATION} ({@code {"status": ...}}),
 * {@code STOP}, {@code RESUME}. Called on an actor thread: return quickly, never block.
 */
@FunctionalInterface
public interface VmListener {
    void onEvent(VmEvent event);

    /** The subscription ended (closed, or the VM stopped): no event follows. */
    default void onClosed() {
    }
}
