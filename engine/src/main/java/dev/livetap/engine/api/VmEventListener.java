package dev.livetap.engine.api;

/**
 * Receives a VM's events in order. Called on an actor thread: return quickly, never block.
 */
@FunctionalInterface
public interface VmEventListener {
    /** One event. */
    void onEvent(VmEvent event);
}
