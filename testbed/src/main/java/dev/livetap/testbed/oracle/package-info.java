/** The differential QMP suite: scenarios written once, run on real QEMU and on {@code livetap vmm}, digests compared. */
package dev.livetap.testbed.oracle;
