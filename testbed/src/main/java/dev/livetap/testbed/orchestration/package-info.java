/** Orchestrating a local migration between two running VMM processes over their QMP sockets. */
package dev.livetap.testbed.orchestration;
