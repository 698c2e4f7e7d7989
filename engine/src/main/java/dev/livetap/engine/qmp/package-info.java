/** The QMP server: a QEMU-compatible JSON control protocol on a UNIX socket, with fd passing (getfd/closefd), typed command registration and events. */
package dev.livetap.engine.qmp;
