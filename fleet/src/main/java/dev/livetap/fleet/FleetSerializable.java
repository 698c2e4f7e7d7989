package dev.livetap.fleet;

/**
 * Marker of every message and event that crosses the cluster or goes into the journal: bound to
 * Pekko's {@code jackson-cbor} serializer in {@link cluster.FleetConfig}, so no Java serialization.
 */
public interface FleetSerializable {
}
