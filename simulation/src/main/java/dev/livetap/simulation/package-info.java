/** Deterministic seeded simulation, chaos runner and end-to-end benchmarks. */
package dev.livetap.simulation;
