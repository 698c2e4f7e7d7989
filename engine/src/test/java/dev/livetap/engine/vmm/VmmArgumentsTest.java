package dev.livetap.engine.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The VMM's own option parser: the options and messages of the former picocli command. */
class VmmArgumentsTest {
    @Test
    void parsesSeparateAndInlineValuesAndFlags() throws Exception {
        VmmArguments a = VmmArguments.parse(List.of("--qmp", "/tmp/a.qmp", "--name=src", "--incoming", "--paused",
                "--migration-timeout=5", "--die-with-parent", "--no-warm-up", "--json-log", "--machine", "pc-q35-10.2"));
        assertEquals(Path.of("/tmp/a.qmp"), a.qmp());
        assertEquals("src", a.name());
        assertTrue(a.incoming() && a.paused() && a.dieWithParent() && a.noWarmUp() && a.jsonLog());
        assertEquals(5, a.migrationTimeoutSeconds());
        assertEquals("pc-q35-10.2", a.machine());
        assertEquals(1, a.plans().size(), "one VM on --qmp");
    }

    @Test
    void defaultsAreThoseOfTheHelpText() throws Exception {
        VmmArguments a = VmmArguments.parse(List.of("--qmp", "/tmp/a.qmp"));
        assertEquals(1, a.vms());
        assertEquals("vm", a.name());
        assertEquals("q35", a.machine());
        assertEquals(30, a.migrationTimeoutSeconds());
        assertTrue(VmmArguments.USAGE.contains("default 30") && VmmArguments.USAGE.contains("Default vm."));
    }

    @Test
    void badCommandLinesNameTheOptionAndTheValue() {
        assertEquals("Unknown option: '--bogus'", message("--bogus"));
        assertEquals("Unmatched argument at index 0: 'a'", message("a"));
        assertEquals("Invalid value for option '--vms': 'x' is not an int", message("--vms", "x"));
        assertEquals("Missing required parameter for option '--qmp' (PATH)", message("--qmp"));
        assertEquals("--migration-timeout must be 1 to 3600, got -1", message("--migration-timeout", "-1"));
        assertEquals("--vms must be 1 to 4096, got 0", message("--vms", "0", "--qmp-dir", "/nonexistent-livetap-test"));
        assertEquals("give exactly one of --qmp PATH (one VM) or --qmp-dir DIR", message());
        assertTrue(message("--machine", "pc-i440fx", "--qmp", "/tmp/a.qmp").startsWith("--machine: "));
        assertTrue(message("--guest-ip", "10.0.0.300", "--qmp", "/tmp/a.qmp").startsWith("--guest-ip: "));
    }

    @Test
    void badValueExitsTwoWithoutStartingAnything() {
        assertEquals(VmmMain.USAGE, VmmMain.run(List.of("--vms", "0", "--qmp-dir", "/nonexistent-livetap-test")));
    }

    @Test
    void theVhostFaultOptionNeedsItsPlugInWhichTheLibraryDoesNotShip(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        assertEquals(VmmMain.USAGE, VmmMain.run(List.of("--qmp", dir.resolve("a.qmp").toString(), "--x-fault-vhost-setup", "1")),
                "without the simulation's plug-in on the class path the VMM refuses before it starts");
        assertTrue(java.nio.file.Files.notExists(dir.resolve("a.qmp")), "nothing was started");
    }

    private static String message(String... args) {
        return assertThrows(VmmArguments.BadArguments.class, () -> VmmArguments.parse(List.of(args).isEmpty() ? List.of()
                : List.of(args)).plans(), "refused: " + List.of(args)).getMessage();
    }
}
