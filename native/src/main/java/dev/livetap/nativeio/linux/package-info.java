/** The Linux kernel behind the native interfaces: JNA direct-mapped libc calls, kept out of every public signature. */
package dev.livetap.nativeio.linux;
