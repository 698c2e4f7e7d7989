/** The real migration channel: AF_UNIX path sockets with SO_PEERCRED checks, on the process's reactor. */
package dev.livetap.engine.transport;
