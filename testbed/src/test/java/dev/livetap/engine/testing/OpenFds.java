package dev.livetap.engine.testing;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A process's open descriptors from /proc, without the jars and libraries the JVM maps while loading classes. */
public final class OpenFds {
    private OpenFds() {
    }

    public static List<String> of(long pid) throws IOException {
        List<String> out = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/proc", String.valueOf(pid), "fd"))) {
            for (Path e : d) {
                String target;
                try {
                    target = Files.readSymbolicLink(e).toString();
                } catch (IOException gone) {
                    continue;
                }
                if (!(target.endsWith(".jar") || target.endsWith(".so") || target.endsWith(".jsa") || target.contains("/jna"))) {
                    out.add(target);
                }
            }
        }
        out.sort(null);
        return out;
    }
}
