/** Fault injection through the production interfaces (channels, transport). */
package dev.livetap.simulation.faults;
