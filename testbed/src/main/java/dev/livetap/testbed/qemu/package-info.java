/** Real {@code qemu-system-x86_64} child processes, TCG, no guest kernel: the oracle for QMP behaviour. */
package dev.livetap.testbed.qemu;
