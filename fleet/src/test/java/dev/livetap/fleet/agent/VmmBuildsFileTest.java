package dev.livetap.fleet.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --vmm-builds-file}: the agent's builds change with the file, without a restart; a change that does not read
 * keeps the builds before (and says why); a bad file at start is an error naming the line.
 */
class VmmBuildsFileTest {
    @TempDir
    Path dir;

    @Test
    void theBuildsFollowTheFileAndABadChangeKeepsThePreviousOnes() throws Exception {
        Path launcher = VmmBuildsFleetTest.fakeLauncher(dir.resolve("old"));
        Path file = dir.resolve("builds");
        String self = VmmBuilds.thisBuild();
        Files.writeString(file, "# the previous release\n0.1.9=" + launcher + ",stream-format=1\n", StandardCharsets.UTF_8);
        VmmBuildsFile builds = new VmmBuildsFile(file, List.of());
        VmmDirectoryPort port = VmmDirectoryPort.adopt(Files.createDirectories(dir.resolve("vmms")), List.of(),
                Duration.ofSeconds(10), builds);
        assertEquals(List.of("0.1.9", self), port.builds(), "what the agent reports in its state");

        Files.writeString(file, "0.1.9=" + launcher + ",stream-format=1\n0.1.8=" + launcher + "   # added\n",
                StandardCharsets.UTF_8);
        assertEquals(List.of("0.1.8", "0.1.9", self), port.builds(), "a build added without a restart");
        assertEquals(Optional.of(1), builds.get().get("0.1.9").orElseThrow().streamFormat());

        Files.writeString(file, "0.1.8=" + dir.resolve("gone") + "\n", StandardCharsets.UTF_8);
        assertEquals(List.of("0.1.8", "0.1.9", self), port.builds(), "a change that does not read changes nothing");
        assertTrue(builds.problem().orElseThrow().contains("line 1: --vmm-build 0.1.8=" + dir.resolve("gone")), builds.problem()
                .toString());

        Files.writeString(file, "", StandardCharsets.UTF_8);
        assertEquals(List.of(self), port.builds(), "every build retired: the agent's own stays");
        assertEquals(Optional.empty(), builds.problem());

        Files.delete(file);
        assertEquals(List.of(self), port.builds(), "a file gone keeps the builds read before");
        assertTrue(builds.problem().orElseThrow().contains("cannot read it"), builds.problem().toString());
    }

    @Test
    void aBadFileAtStartIsAnErrorNamingTheLineAndTheCommandLineBuildsStayBesideTheFile() throws Exception {
        Path launcher = VmmBuildsFleetTest.fakeLauncher(dir.resolve("old"));
        Path file = dir.resolve("builds");
        Files.writeString(file, "\n0.1.9 " + launcher + "\n", StandardCharsets.UTF_8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new VmmBuildsFile(file, List.of()));
        assertTrue(e.getMessage().startsWith("--vmm-builds-file " + file + " line 2: --vmm-build expects VERSION=LAUNCHER"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new VmmBuildsFile(dir.resolve("none"), List.of()));

        Files.writeString(file, "0.1.9=" + launcher + "\n", StandardCharsets.UTF_8);
        assertEquals(List.of("0.1.7", "0.1.9", VmmBuilds.thisBuild()),
                new VmmBuildsFile(file, List.of("0.1.7=" + launcher)).get().versions());
        Files.writeString(file, "0.1.7=" + launcher + "\n", StandardCharsets.UTF_8);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new VmmBuildsFile(file, List.of("0.1.7=" + launcher)))
                .getMessage().contains("version 0.1.7 is given twice"));
    }
}
