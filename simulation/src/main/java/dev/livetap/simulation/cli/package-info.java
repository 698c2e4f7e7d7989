/** The simulate and chaos subcommands, plugged into the livetap CLI through the SPI. */
package dev.livetap.simulation.cli;
