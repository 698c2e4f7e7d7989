package dev.livetap.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.migration.ReturnPath;
import dev.livetap.codec.StreamDecoder;
import dev.livetap.nativeio.UnixFrameChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The engine loads every library class from class path directories when it starts (the descriptor limit). */
class LibraryClassPreloadTest {

    /** The engine's own classes are a directory in its own test run, whether the other modules come from jars or not. */
    private static Path engineDirectory() {
        return LibraryClassPreload.directoryOf(EngineCore.class)
                .orElseThrow(() -> new AssertionError("engine's test run has its classes in target/classes"));
    }

    @Test
    void everyClassInAModulesDirectoryIsLoaded() {
        int listed = LibraryClassPreload.classNames(engineDirectory()).size();
        LibraryClassPreload.Report r = LibraryClassPreload.load(List.of(EngineCore.class));
        assertEquals(1, r.directories(), r.toString());
        assertTrue(listed > 50 && r.loaded() == listed, "every class file listed is loaded: " + r + ", listed " + listed);
        assertEquals(0, r.failed(), "nothing of the engine misses a dependency: " + r);
    }

    @Test
    void theLibraryModulesDirectoriesAreLoadedOncePerProcess() {
        // a reactor build puts the other modules on the class path as jars or as directories, depending on its phase
        List<Path> dirs = Stream.of(UnixFrameChannel.class, StreamDecoder.class, ReturnPath.class, EngineCore.class)
                .map(LibraryClassPreload::directoryOf).flatMap(Optional::stream).toList();
        LibraryClassPreload.Report r = LibraryClassPreload.ensureLoaded();
        assertEquals(dirs.size(), r.directories(), "each module that comes from a directory: " + dirs);
        assertEquals(dirs.stream().mapToInt(d -> LibraryClassPreload.classNames(d).size()).sum(), r.loaded(), r.toString());
        assertEquals(0, r.failed(), r.toString());
        assertSame(r, LibraryClassPreload.ensureLoaded(), "once per process");
    }

    @Test
    void classNamesAreBinaryNamesWithoutPackageInfo() {
        List<String> names = LibraryClassPreload.classNames(engineDirectory());
        assertTrue(names.contains("dev.livetap.engine.internal.LibraryClassPreload"), "a top-level class: " + names);
        assertTrue(names.contains("dev.livetap.engine.internal.LibraryClassPreload$Report"), "its nested classes too");
        assertTrue(names.stream().noneMatch(n -> n.endsWith("package-info")), "no package-info");
    }

    @Test
    void aJarIsNoDirectory() {
        assertEquals(Optional.empty(), LibraryClassPreload.directoryOf(org.slf4j.Logger.class), "slf4j comes from its jar");
        assertEquals(Optional.empty(), LibraryClassPreload.directoryOf(String.class), "the JDK's classes have no code source");
    }
}
