package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class MachineTypeTest {
    @Test
    void aliasesNameTheLatest() {
        assertEquals("pc-q35-11.0", MachineType.parse("q35").name());
        assertEquals("pc-i440fx-11.0", MachineType.parse("pc").name());
        assertEquals(MachineType.parse("pc-q35-11.0"), MachineType.parse("q35"));
    }

    @Test
    void unknownListsTheValidOnes() {
        assertRejected("unsupported machine type 'pc-q35-9.2'; valid machine types: q35, pc, pc-q35-11.0, pc-q35-10.2,"
                + " pc-q35-10.1, pc-q35-10.0, pc-i440fx-11.0, pc-i440fx-10.2, pc-i440fx-10.1, pc-i440fx-10.0",
                () -> MachineType.parse("pc-q35-9.2"));
    }

    @Test
    void compatTable() {
        assertEquals(List.of(new CompatProperty("virtio-net-pci", "backend-transfer", "false"),
                new CompatProperty("tap", "local-migration-supported", "false")),
                MachineCompat.propertiesFor(MachineType.parse("pc-q35-10.2")));
        assertEquals("virtio-net-pci.backend-transfer=false", MachineCompat.BACKEND_TRANSFER_OFF.toString());
        assertEquals(List.of(new CompatProperty("tap", "local-migration-supported", "false")),
                MachineCompat.propertiesFor(MachineType.parse("pc-q35-11.0")),
                "v17 turns local-migration-supported on from 11.2: every machine type livetap models keeps it off");
        for (String name : MachineType.all().keySet()) {
            assertFalse(MachineCompat.localMigrationSupportedDefault(MachineType.parse(name)), name);
        }
        assertTrue(MachineType.parse("pc-q35-10.1").compareTo(MachineType.parse("pc-i440fx-10.2")) < 0);
    }
}
