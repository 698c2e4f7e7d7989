package dev.livetap.engine.internal;

import dev.livetap.actors.migration.ReturnPath;
import dev.livetap.codec.StreamDecoder;
import dev.livetap.nativeio.UnixFrameChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads, once per process, every class of the library modules (native, codec, actors, engine) that
 * comes from a class path directory. From a directory each first load of a class opens its .class
 * file, so at the descriptor limit (EMFILE) it fails with a NoClassDefFoundError that the JVM keeps
 * for that reference: a target receiving TAP fds at its limit lost its stream decoder that way (Pekko
 * then ends the JVM) or its last words to the source. From a jar no descriptor is needed (the jar
 * stays open), so a packaged engine finds no directory and loads nothing here.
 */
public final class LibraryClassPreload {
    private static final Logger LOG = LoggerFactory.getLogger(LibraryClassPreload.class);
    /** One class of each library module: its code source is that module's directory or jar. */
    private static final List<Class<?>> MODULES = List.of(UnixFrameChannel.class, StreamDecoder.class, ReturnPath.class,
            LibraryClassPreload.class);

    /** What was loaded: classes from {@code directories} loaded, those that could not be (e.g. an optional dependency is absent). */
    public record Report(int directories, int loaded, int failed, long millis) {
    }

    private LibraryClassPreload() {
    }

    /** Loads them the first time it is called (the JVM's class initialization makes that once); the report of that time. */
    public static Report ensureLoaded() {
        return Once.REPORT;
    }

    private static final class Once {
        static final Report REPORT = load(MODULES);
    }

    /** Loads (without initializing) every class found in the directories {@code modules} come from. */
    static Report load(List<Class<?>> modules) {
        long start = System.nanoTime();
        int directories = 0;
        int loaded = 0;
        int failed = 0;
        for (Class<?> module : modules) {
            Optional<Path> dir = directoryOf(module);
            if (dir.isEmpty()) {
                continue;
            }
            directories++;
            for (String name : classNames(dir.get())) {
                try {
                    Class.forName(name, false, module.getClassLoader());
                    loaded++;
                } catch (ClassNotFoundException | LinkageError e) {
                    failed++;
                    LOG.debug("preloading {}: {}", name, e.toString());
                }
            }
        }
        Report r = new Report(directories, loaded, failed, (System.nanoTime() - start) / 1_000_000);
        if (directories > 0) {
            LOG.debug("loaded {} library classes from {} class path directories in {} ms ({} could not be loaded)",
                    r.loaded(), r.directories(), r.millis(), r.failed());
        }
        return r;
    }

    /** The class path directory {@code c} was loaded from; empty for a jar or an unknown source. */
    static Optional<Path> directoryOf(Class<?> c) {
        CodeSource source = c.getProtectionDomain().getCodeSource();
        URL location = source == null ? null : source.getLocation();
        if (location == null || !"file".equals(location.getProtocol())) {
            return Optional.empty();
        }
        try {
            Path p = Path.of(location.toURI());
            return Files.isDirectory(p) ? Optional.of(p) : Optional.empty();
        } catch (URISyntaxException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** Binary names of the classes under {@code dir}, in a stable order (those listed before a listing failure). */
    static List<String> classNames(Path dir) {
        List<String> names = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            files.filter(p -> p.getFileName().toString().endsWith(".class")).sorted().forEach(p -> {
                String relative = dir.relativize(p).toString();
                String name = relative.substring(0, relative.length() - ".class".length()).replace(dir.getFileSystem().getSeparator(), ".");
                if (!name.endsWith("module-info") && !name.endsWith("package-info")) {
                    names.add(name);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            LOG.warn("listing the classes in {}: {}; those not listed load when first used", dir, e.toString());
        }
        return names;
    }
}
