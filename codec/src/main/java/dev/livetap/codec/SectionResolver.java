package dev.livetap.codec;

/**
 * How a loader finds the local schema for an incoming section: by section name and instance id,
 * so that two NICs may each build their own schema from their own peers.
 */
@FunctionalInterface
public interface SectionResolver {
    /** The schema to load {@code name} instance {@code instanceId} with, or null when no such device exists here. */
    Schema resolve(String name, int instanceId);

    /** Resolves by name only, whatever the instance id. */
    static SectionResolver of(Schema... schemas) {
        java.util.Map<String, Schema> byName = new java.util.HashMap<>();
        for (Schema s : schemas) {
            byName.put(s.name(), s);
        }
        return (name, instance) -> byName.get(name);
    }
}
