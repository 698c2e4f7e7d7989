/** Starting child processes with a chosen lifetime: ending with their parent, or outliving it. */
package dev.livetap.testbed.launch;
