/** {@code livetap selftest}: host checks and a real TAP hand-off between child processes. */
package dev.livetap.testbed.selftest;
