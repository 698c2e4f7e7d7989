package dev.livetap.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The engine is a library a control plane embeds: its runtime class path (written by the build,
 * maven-dependency-plugin build-classpath) carries no command-line library, no logging backend or
 * configuration, and no harness; its own classes live in the library's packages only.
 */
class EngineClassPathTest {
    private static final Path BUILD = Path.of("target");
    /** Jars by name; the project's modules also as reactor class directories (MODULE/target/classes). */
    private static final List<String> FORBIDDEN = List.of("picocli", "logback", "livetap-simulation", "livetap-testbed",
            "livetap-tools", "livetap-distribution", "/simulation/target/", "/testbed/target/", "/tools/target/");
    private static final Set<String> LIBRARY_PACKAGES = Set.of("dev.livetap.engine", "dev.livetap.engine.api", "dev.livetap.engine.internal", "dev.livetap.engine.qmp",
            "dev.livetap.engine.vmm", "dev.livetap.engine.transport", "dev.livetap.engine.metrics");

    @Test
    void runtimeClassPathHasNoPicocliLogbackOrHarness() throws IOException {
        Path file = BUILD.resolve("runtime-classpath.txt");
        assertTrue(Files.isRegularFile(file), "the build writes " + file.toAbsolutePath() + " (generate-test-resources)");
        List<String> entries = List.of(Files.readString(file).strip().split(java.io.File.pathSeparator));
        assertTrue(entries.stream().anyMatch(e -> e.contains("livetap-actors") || e.contains("/actors/target/")),
                "the class path names the engine's dependencies: " + entries);
        for (String entry : entries) {
            for (String forbidden : FORBIDDEN) {
                assertFalse(entry.contains(forbidden), "the engine's runtime class path must not carry " + forbidden + ": " + entry);
            }
        }
    }

    /** Test doubles by their names' habit: the fault doubles live in the simulation module. */
    private static final java.util.regex.Pattern DOUBLE = java.util.regex.Pattern.compile("(^|/)(Recording|Fake|Stub)[^/$]*\\.class$");

    @Test
    void runtimeClassPathHoldsNoTestDoubles() throws IOException {
        List<String> entries = List.of(Files.readString(BUILD.resolve("runtime-classpath.txt")).strip().split(java.io.File.pathSeparator));
        List<String> doubles = new java.util.ArrayList<>();
        for (String entry : entries) {
            Path p = Path.of(entry);
            if (!(entry.contains("livetap-") || entry.contains("/target/classes"))) {
                continue; // third-party jars
            }
            if (Files.isDirectory(p)) {
                try (Stream<Path> files = Files.walk(p)) {
                    files.map(f -> p.relativize(f).toString()).filter(n -> DOUBLE.matcher(n).find()).forEach(doubles::add);
                }
            } else if (Files.isRegularFile(p)) {
                try (java.util.zip.ZipFile jar = new java.util.zip.ZipFile(p.toFile())) {
                    jar.stream().map(java.util.zip.ZipEntry::getName).filter(n -> DOUBLE.matcher(n).find()).forEach(doubles::add);
                }
            }
        }
        assertEquals(List.of(), doubles, "the engine's runtime class path must hold no test doubles (they live in simulation)");
    }

    @Test
    void engineClassesLiveInTheLibraryPackagesOnly() throws IOException {
        Path classes = BUILD.resolve("classes");
        Set<String> packages = new TreeSet<>();
        try (Stream<Path> files = Files.walk(classes)) {
            files.filter(f -> f.toString().endsWith(".class"))
                    .forEach(f -> packages.add(classes.relativize(f.getParent()).toString().replace('/', '.')));
        }
        Set<String> outside = new TreeSet<>(packages);
        outside.removeAll(LIBRARY_PACKAGES);
        assertEquals(Set.of(), outside, "engine packages outside the library (api, internal, qmp, vmm, transport, metrics)");
        try (Stream<Path> files = Files.walk(classes)) {
            assertEquals(List.of(), files.map(f -> classes.relativize(f).toString())
                    .filter(n -> n.startsWith("logback") || n.startsWith("META-INF/services")).toList(),
                    "no logging configuration or service registrations in the library jar");
        }
    }
}
