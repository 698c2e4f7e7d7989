package dev.livetap.testbed.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The VMM child's class path in a distribution: the engine's listed jars and its logging, nothing of the cluster or the CLI. */
class VmmClassPathTest {

    @Test
    void distributionGivesTheListedJarsTheEngineAndItsLogging(@TempDir Path home) throws IOException {
        Path lib = Files.createDirectories(home.resolve("lib"));
        for (String jar : List.of("livetap-actors-0.2.0.jar", "pekko-actor_2.13-1.7.0.jar", "pekko-cluster_2.13-1.7.0.jar",
                "picocli-4.7.7.jar", "livetap-engine-0.2.0.jar", "livetap-tools-0.2.0.jar", "livetap-fleet-0.2.0.jar",
                "logback-classic-1.5.38.jar", "logback-core-1.5.38.jar")) {
            Files.createFile(lib.resolve(jar));
        }
        Files.writeString(lib.resolve("vmm.classpath"), "lib/livetap-actors-0.2.0.jar:lib/pekko-actor_2.13-1.7.0.jar\n");

        List<String> entries = List.of(ChildLaunch.vmmClassPath(home).orElseThrow().split(File.pathSeparator));

        assertEquals(List.of(lib.resolve("livetap-actors-0.2.0.jar").toString(), lib.resolve("pekko-actor_2.13-1.7.0.jar").toString(),
                lib.resolve("livetap-engine-0.2.0.jar").toString(), lib.resolve("livetap-tools-0.2.0.jar").toString(),
                lib.resolve("logback-classic-1.5.38.jar").toString(), lib.resolve("logback-core-1.5.38.jar").toString()), entries);
    }

    @Test
    void withoutTheListThereIsNoDistributionClassPath(@TempDir Path home) throws IOException {
        Files.createDirectories(home.resolve("lib"));
        assertTrue(ChildLaunch.vmmClassPath(home).isEmpty());
    }

    @Test
    void outsideADistributionTheJvmsOwnClassPath() {
        // the tests run without livetap.home (bin/livetap sets it)
        assertEquals(System.getProperty("java.class.path"), ChildLaunch.vmmClassPath());
    }
}
