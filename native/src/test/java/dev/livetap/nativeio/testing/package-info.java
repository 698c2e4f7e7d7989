/** Test support shared by every module: capability conditions (RequiresTun, RequiresRoot, HostCapabilities) and the one fd-leak check (FdCounter); process-level helpers live in testbed. */
package dev.livetap.nativeio.testing;
