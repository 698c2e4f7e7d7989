package dev.livetap.fleet.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent's VMM builds ({@code --vmm-build}) and the rule that pins a rollback's source format. */
class VmmBuildsTest {
    @TempDir
    Path dir;

    @Test
    void theAgentsOwnBuildIsAlwaysThereAndEachSpecNamesAnExecutableLauncher() throws Exception {
        Path launcher = VmmBuildsFleetTest.fakeLauncher(dir.resolve("livetap"));
        VmmBuilds builds = VmmBuilds.of(List.of("0.1.9=" + launcher + ",stream-format=1"));
        assertEquals(List.of("0.1.9", VmmBuilds.thisBuild()), builds.versions());
        assertEquals(Optional.of(1), builds.get("0.1.9").orElseThrow().streamFormat());
        assertEquals(launcher, builds.get("0.1.9").orElseThrow().launcher());
        assertEquals(null, builds.get(VmmBuilds.CURRENT).orElseThrow().launcher(), "current is the agent's own build");
        assertTrue(builds.get("0.3.0").isEmpty());
        assertEquals(Optional.empty(), VmmBuilds.parse("0.1.8=" + launcher).streamFormat(), "asked from the VMM when not declared");

        assertTrue(assertThrows(IllegalArgumentException.class, () -> VmmBuilds.of(List.of("0.1.9" + launcher))).getMessage()
                .startsWith("--vmm-build expects VERSION=LAUNCHER"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> VmmBuilds.of(List.of("0.1.9=" + dir.resolve("none"))))
                .getMessage().contains("the launcher is not an executable file"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> VmmBuilds.of(List.of(VmmBuilds.thisBuild() + "=" + launcher)))
                .getMessage().contains("it is this agent's own build"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> VmmBuilds.of(List.of("0.1.9=" + launcher + ",stream-format=x")))
                .getMessage().contains("stream-format expects a number"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> VmmBuilds.of(List.of("current=" + launcher)))
                .getMessage().contains("names the agent's own build"));
    }

    @Test
    void theBuildOfAVmmProcessIsToldFromItsCommandLineOrNotAtAll() throws Exception {
        Path home = dir.resolve("old");
        Path launcher = VmmBuildsFleetTest.fakeLauncher(home);
        VmmBuilds builds = VmmBuilds.of(List.of("0.1.9=" + launcher));
        String cp = System.getProperty("java.class.path");
        assertEquals(Optional.of("0.1.9"), builds.ofCommandLine(List.of("java", "-Dlivetap.home=" + home, "-cp", cp + "/lib/*",
                "dev.livetap.engine.vmm.VmmMain", "vmm", "--qmp", "x.qmp")), "a distribution names its home");
        assertEquals(Optional.of(VmmBuilds.thisBuild()), builds.ofCommandLine(List.of("java", "-XX:+UseSerialGC", "-cp", cp,
                "dev.livetap.engine.vmm.VmmMain", "vmm", "--qmp", "x.qmp")), "how the agent starts its own build");
        assertEquals(Optional.empty(), builds.ofCommandLine(List.of("java", "-Dlivetap.home=" + dir.resolve("elsewhere"), "-cp",
                cp, "dev.livetap.engine.vmm.VmmMain", "vmm")), "a distribution the agent has no build of");
        assertEquals(Optional.empty(), builds.ofCommandLine(List.of("java", "-cp", "/opt/other.jar", "dev.livetap.engine.vmm.VmmMain",
                "vmm")), "another class path, no home: cannot be told (moved as before)");
    }

    @Test
    void aFormatIsKnownWithoutAskingForTheAgentsOwnBuildAndADeclaredOne() throws Exception {
        Path launcher = VmmBuildsFleetTest.fakeLauncher(dir.resolve("f"));
        VmmBuilds builds = VmmBuilds.of(List.of("0.1.9=" + launcher + ",stream-format=1", "0.1.8=" + launcher));
        assertEquals(OptionalInt.of(dev.livetap.codec.StreamEncoder.FORMAT_VERSION),
                VmmDirectoryPort.formatOf(builds.get(VmmBuilds.CURRENT).orElseThrow()));
        assertEquals(OptionalInt.of(1), VmmDirectoryPort.formatOf(builds.get("0.1.9").orElseThrow()));
        assertEquals(OptionalInt.empty(), VmmDirectoryPort.formatOf(builds.get("0.1.8").orElseThrow()), "asked from its VMM");
    }

    @Test
    void onlyATargetThatWritesAnOlderFormatGetsTheSourcePinned() {
        assertEquals(OptionalInt.of(1), VmmDirectoryPort.streamFormatFor(OptionalInt.of(2), OptionalInt.of(1)), "a rollback");
        assertEquals(OptionalInt.empty(), VmmDirectoryPort.streamFormatFor(OptionalInt.of(1), OptionalInt.of(2)),
                "an upgrade: the newer target loads the older format");
        assertEquals(OptionalInt.empty(), VmmDirectoryPort.streamFormatFor(OptionalInt.of(2), OptionalInt.of(2)));
        assertEquals(OptionalInt.empty(), VmmDirectoryPort.streamFormatFor(OptionalInt.of(2), OptionalInt.empty()),
                "a target that neither reports nor declares its format");
        assertEquals(OptionalInt.empty(), VmmDirectoryPort.streamFormatFor(OptionalInt.empty(), OptionalInt.of(1)),
                "a source from before x-stream-format cannot be pinned");
    }
}
