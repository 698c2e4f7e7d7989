/** Fleet operations on Pekko Cluster: host agents, the upgrade coordinator, the freeze budget. */
package dev.livetap.fleet;
