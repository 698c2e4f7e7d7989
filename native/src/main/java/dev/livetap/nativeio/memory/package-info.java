/** An in-memory OS behind the native interfaces, with a caller-driven reactor, for the deterministic simulation. */
package dev.livetap.nativeio.memory;
