/** One FIFO executor for every dispatcher, explicit timers, and the simulation event queue. */
package dev.livetap.simulation.runtime;
