/** JMH benchmarks of the codec (encode, decode, frame checksum, Pekko flow pair); run with org.openjdk.jmh.Main on the test class path. */
package dev.livetap.codec.bench;
