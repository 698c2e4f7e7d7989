package dev.livetap.actors.nic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.tap.NetTapSchema;
import dev.livetap.codec.Field;
import dev.livetap.codec.Schema;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The schema half of the compatibility policy (docs/stream-format.md, "Compatibility between
 * livetap versions"): this build loads every schema version the previous build writes (upgrade)
 * and writes only versions the previous build loads (rollback). The encoder writes each struct at
 * its schema's own version, so a raised version breaks the rollback until the source can write
 * the previous one under {@code x-stream-format}: this test fails first, naming the schema.
 */
class StreamCompatibilityTest {
    /**
     * Every schema of the device section and the version the previous builds write and load: the
     * format-1 build (bc12a8e, 2026-11-25) and v0.2.0 (bb26bc7, 2026-12-06) alike, all at version 1.
     */
    static final Map<String, Integer> PREVIOUS_BUILD = Map.of(
            VirtioNetSchema.NAME, 1, VirtioNetSchema.NIC_SUBSECTION, 1, VirtioNetSchema.GUEST, 1, NetTapSchema.NAME, 1);

    @Test
    void everySchemaASourceWritesIsOneThePreviousBuildLoadsAndWrites() {
        Map<String, Schema> now = new TreeMap<>();
        walk(VirtioNetSchema.schema(List.of(NetTapSchema.SCHEMA, NetTapSchema.SCHEMA)), now);
        assertEquals(new TreeMap<>(PREVIOUS_BUILD).keySet(), now.keySet(),
                "the device section's schemas are those of the previous build (a new one needs a row here and a plan "
                        + "for a previous build that does not know it)");
        for (Schema s : now.values()) {
            int previous = PREVIOUS_BUILD.get(s.name());
            assertEquals(previous, s.version(), "schema " + s.name() + " is at version " + s.version()
                    + " but the previous build loads up to version " + previous + ": a rollback would be refused. Make "
                    + "the source write version " + previous + " under x-stream-format, then update this table "
                    + "(docs/stream-format.md, Compatibility between livetap versions)");
            assertTrue(s.minVersion() <= previous, "schema " + s.name() + " refuses version " + previous
                    + " (minVersion " + s.minVersion() + "), which the previous build writes: an upgrade would be refused");
        }
    }

    private static void walk(Schema s, Map<String, Schema> into) {
        if (s == null || into.putIfAbsent(s.name(), s) != null) {
            return;
        }
        for (Field f : s.fields()) {
            switch (f.kind()) {
                case STRUCT, GROUP -> walk(f.schema(), into);
                case VARRAY -> walk(f.elementSchema(0), into);
                default -> {
                }
            }
        }
        s.subsections().forEach(sub -> walk(sub.schema(), into));
    }
}
