/** {@code livetap fleet bench}: rolling VMM-process replacement on one host under a freeze budget, measured. */
package dev.livetap.fleet.bench;
