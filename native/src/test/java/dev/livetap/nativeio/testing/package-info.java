/** Test support shared by every module: capability conditions, private network namespaces, child JVMs and fd leak checks. */
package dev.livetap.nativeio.testing;
