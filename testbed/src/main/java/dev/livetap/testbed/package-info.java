/** The real-host harness: child VMM processes (real QEMU and {@code livetap vmm}) for tests and tools. */
package dev.livetap.testbed;
