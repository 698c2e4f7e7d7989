/** Run traces: delivered messages and OS calls, hashed. */
package dev.livetap.simulation.trace;
