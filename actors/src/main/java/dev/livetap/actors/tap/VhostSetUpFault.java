package dev.livetap.actors.tap;

/**
 * A vhost backend whose {@link VhostBackend#setUp} fails on one queue, found with
 * {@link java.util.ServiceLoader}: the VMM's hidden {@code --x-fault-vhost-setup} looks one up. The
 * library provides none (the simulation module does), so the engine's class path holds no test double.
 */
public interface VhostSetUpFault {
    /** A fresh backend (one per VM endpoint) whose set-up of queue {@code queueIndex} fails. */
    VhostBackend failingSetUp(int queueIndex);
}
