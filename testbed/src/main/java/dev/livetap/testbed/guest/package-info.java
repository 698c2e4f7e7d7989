/** The Linux guest for real QEMU: a Debian cloud kernel and a reproducible busybox initramfs, built into a cache. */
package dev.livetap.testbed.guest;
