package dev.livetap.testbed.oracle;

/** Which VMM a scenario runs against. */
public enum Flavor {
    /** A real {@code qemu-system-x86_64}: the oracle. */
    QEMU,
    /** {@code livetap vmm}. */
    LIVETAP
}
