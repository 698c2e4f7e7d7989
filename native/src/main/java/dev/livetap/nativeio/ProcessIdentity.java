package dev.livetap.nativeio;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Who this process runs as, read without JNA (so it works where the native layer is unavailable). */
public final class ProcessIdentity {
    private ProcessIdentity() {
    }

    /** The effective uid: the owner of /proc/self. */
    public static int uid() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read this process's uid from /proc/self", e);
        }
    }
}
