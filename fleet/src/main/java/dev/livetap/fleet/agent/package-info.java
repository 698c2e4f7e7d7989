/**
 * The host agent: the fence (coordinator epochs), the per-VM step ledger, the freeze budget of its
 * host, the real migration port over a directory of one-VM {@code livetap vmm} processes, and the
 * agent's process ({@link dev.livetap.fleet.agent.AgentNode}).
 */
package dev.livetap.fleet.agent;
