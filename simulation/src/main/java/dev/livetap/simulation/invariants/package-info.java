/** The properties every simulated run must keep. */
package dev.livetap.simulation.invariants;
