/** {@code livetap vmm} child processes. */
package dev.livetap.testbed.vmm;
