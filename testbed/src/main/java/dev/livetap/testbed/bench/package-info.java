/**
 * End-to-end benchmarks ({@code livetap bench downtime | concurrent}): real VMM child processes
 * in a private network namespace, real TAPs, driven over QMP; the bare C hand-off as the floor.
 */
package dev.livetap.testbed.bench;
