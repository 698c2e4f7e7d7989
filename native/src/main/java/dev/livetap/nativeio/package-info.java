/** The native layer: owned file descriptors, the I/O reactor, AF_UNIX framing with SCM_RIGHTS, TUN queues, behind small interfaces with a JNA and an in-memory implementation. */
package dev.livetap.nativeio;
