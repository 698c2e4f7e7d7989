/** The upgrade coordinator: a Cluster Singleton whose plan and steps are event-sourced into the journal. */
package dev.livetap.fleet.coordinator;
