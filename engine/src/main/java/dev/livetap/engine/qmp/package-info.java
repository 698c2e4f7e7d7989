/**
 * QMP: the server (a QEMU-compatible JSON control protocol on a UNIX socket, with fd passing,
 * typed command registration and events) and the one client stack ({@code QmpConnection}, the
 * blocking {@code QmpClient}, the multiplexed {@code QmpMux}), which frames with the server's
 * splitter. Threading: docs/architecture.md, "QMP".
 */
package dev.livetap.engine.qmp;
