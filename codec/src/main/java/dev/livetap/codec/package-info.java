/** The migration stream: state schemas, sections on the native framing layer, CBOR payloads, fds by slot, Pekko Streams flows. */
package dev.livetap.codec;
