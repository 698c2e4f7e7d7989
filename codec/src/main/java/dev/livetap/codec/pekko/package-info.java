/** Pekko Streams stages for the migration stream: encode and decode flows, and a source and sink over a native frame channel driven by its callbacks. */
package dev.livetap.codec.pekko;
