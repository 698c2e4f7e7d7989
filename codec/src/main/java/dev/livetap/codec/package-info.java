/**
 * The migration stream: state schemas ({@link dev.livetap.codec.Schema}, values in
 * {@link dev.livetap.codec.StateStruct}), sections on the native framing layer with CBOR payloads and fds by slot,
 * encoded by {@link dev.livetap.codec.StreamEncoder} and loaded by {@link dev.livetap.codec.StreamDecoder}; see
 * docs/stream-format.md for the format and a compiled example (UsageExampleTest).
 */
package dev.livetap.codec;
