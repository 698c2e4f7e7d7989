/** The multi-process chaos runner: real VMM processes, a real multiqueue TAP, real signals and ping. */
package dev.livetap.testbed.chaos;
