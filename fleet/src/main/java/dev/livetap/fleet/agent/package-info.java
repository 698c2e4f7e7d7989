/** The host agent: the fence (coordinator epochs), the per-VM step ledger, the freeze budget of its host. */
package dev.livetap.fleet.agent;
