/**
 * End-to-end benchmarks ({@code livetap bench downtime | concurrent | functional}): real VMM child
 * processes (and, for functional, real QEMU with a Linux guest) in a private network namespace, real
 * TAPs, driven over QMP; the bare C hand-off as the floor.
 */
package dev.livetap.testbed.bench;
