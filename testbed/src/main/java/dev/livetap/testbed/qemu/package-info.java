/** Real {@code qemu-system-x86_64} child processes under TCG: without a guest (the QMP oracle) or booting the Linux guest on a multiqueue TAP. */
package dev.livetap.testbed.qemu;
