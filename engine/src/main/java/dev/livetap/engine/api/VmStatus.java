package dev.livetap.engine.api;

/**
 * A VM's {@code query-status}.
 *
 * @param running  whether the VM runs
 * @param runState its run state
 */
public record VmStatus(boolean running, RunState runState) {
}
