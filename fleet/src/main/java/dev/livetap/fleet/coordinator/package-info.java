/**
 * The upgrade coordinator: a Cluster Singleton whose plan and steps are event-sourced into the
 * journal, and its driver, which sends the steps to the host agents found through the Receptionist.
 */
package dev.livetap.fleet.coordinator;
