package dev.livetap.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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

    @Test
    void everyClassInTheLibraryModulesDirectoriesIsLoadedOncePerProcess() {
        List<Path> dirs = Stream.of(UnixFrameChannel.class, StreamDecoder.class, ReturnPath.class, EngineCore.class)
                .map(LibraryClassPreload::directoryOf).flatMap(Optional::stream).toList();
        assumeTrue(dirs.size() == 4, "the library modules come from jars here (nothing to load): " + dirs);
        int listed = dirs.stream().mapToInt(d -> LibraryClassPreload.classNames(d).size()).sum();
        LibraryClassPreload.Report r = LibraryClassPreload.ensureLoaded();
        assertEquals(4, r.directories(), "native, codec, actors and engine each from its directory");
        assertTrue(listed > 0 && r.loaded() == listed, "every class file listed is loaded: " + r + ", listed " + listed);
        assertEquals(0, r.failed(), "nothing of the library misses a dependency: " + r);
        assertSame(r, LibraryClassPreload.ensureLoaded(), "once per process");
    }

    @Test
    void classNamesAreBinaryNamesWithoutPackageInfo() {
        Path dir = LibraryClassPreload.directoryOf(StreamDecoder.class).orElse(null);
        assumeTrue(dir != null, "codec comes from a jar here");
        List<String> names = LibraryClassPreload.classNames(dir);
        assertTrue(names.contains("dev.livetap.codec.StreamDecoder"), "a top-level class: " + names);
        assertTrue(names.stream().anyMatch(n -> n.startsWith("dev.livetap.codec.StreamDecoder$")), "its nested classes too");
        assertTrue(names.stream().noneMatch(n -> n.endsWith("package-info")), "no package-info");
    }

    @Test
    void aJarIsNoDirectory() {
        assertEquals(Optional.empty(), LibraryClassPreload.directoryOf(org.slf4j.Logger.class), "slf4j comes from its jar");
        assertEquals(Optional.empty(), LibraryClassPreload.directoryOf(String.class), "the JDK's classes have no code source");
    }
}
