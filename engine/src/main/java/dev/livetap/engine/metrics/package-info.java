/** Micrometer meters of an engine (migrations, switch-over downtime, TAP fds, QMP sessions) and the JFR events of a switch-over. */
package dev.livetap.engine.metrics;
