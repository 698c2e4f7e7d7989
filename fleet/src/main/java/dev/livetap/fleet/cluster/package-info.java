/** A fleet node's Pekko configuration (cluster transport, journal in a database) and its start-up. */
package dev.livetap.fleet.cluster;
