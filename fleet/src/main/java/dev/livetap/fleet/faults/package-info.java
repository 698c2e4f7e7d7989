/**
 * {@code livetap fleet faults}: issue 18 item 5's multi-node fault matrix. Three coordinator-capable node
 * JVMs and four host agent JVMs on loopback (the journal in a throw-away PostgreSQL server), each host's
 * {@code livetap vmm} processes in a network namespace with real 2-queue TAPs; one fault injected
 * mid-plan per scenario, then checks against independent records (the process table, the VMMs' own
 * {@code query-migrate}, the journal's rows, the agents' ledgers, ping through each TAP).
 */
package dev.livetap.fleet.faults;
