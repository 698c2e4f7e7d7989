/** {@code livetap fleet bench} and {@code soak}: rolling VMM-process replacement under a freeze budget, by host agent processes or in one JVM, measured. */
package dev.livetap.fleet.bench;
