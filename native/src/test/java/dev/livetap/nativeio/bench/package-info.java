/** JMH benchmarks of the native layer's hot paths; run them with scripts/jmh. */
package dev.livetap.nativeio.bench;
