package dev.livetap.fleet.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The VMM builds of {@code livetap agent --vmm-builds-file FILE}, re-read when the file changes, so that a build is
 * added or retired without an agent restart (as {@code RotatingTlsContext} re-reads certificates). FILE holds one
 * {@code VERSION=LAUNCHER[,stream-format=N]} per line ({@code #} starts a comment); the {@code --vmm-build} options are
 * added to it. A FILE that is bad at start is an error; a FILE that turns bad later (a half-written edit, a launcher
 * gone) keeps the builds read before, with a warning, until it reads again. Checked on each use (a step, the agent's
 * state): the file's modification time, size and key, one {@code stat} per use.
 */
public final class VmmBuildsFile implements Supplier<VmmBuilds> {
    private static final Logger LOG = LoggerFactory.getLogger(VmmBuildsFile.class);

    private final Path file;
    private final List<String> fixed;
    /** What was read last, and from which version of the file; replaced whole (read by the agent's threads). */
    private volatile Loaded loaded;

    private record Loaded(VmmBuilds builds, List<Object> stamp, Optional<String> problem) {
    }

    /**
     * @param fixed the {@code --vmm-build} specs, always there beside the file's
     * @throws IllegalArgumentException the file cannot be read or holds a bad spec (with the line)
     */
    public VmmBuildsFile(Path file, List<String> fixed) {
        this.file = file.toAbsolutePath().normalize();
        this.fixed = List.copyOf(fixed);
        List<Object> stamp = stamp();
        this.loaded = new Loaded(read(), stamp, Optional.empty());
    }

    /** The builds now: re-read first when the file changed since the last read. */
    @Override
    public VmmBuilds get() {
        Loaded last = loaded;
        List<Object> stamp = stamp();
        if (stamp.equals(last.stamp())) {
            return last.builds();
        }
        synchronized (this) {
            last = loaded;
            if (stamp.equals(last.stamp())) {
                return last.builds();
            }
            try {
                VmmBuilds next = read();
                loaded = new Loaded(next, stamp, Optional.empty());
                LOG.info("{} changed: VMM builds {} (were {})", file, next.versions(), last.builds().versions());
                return next;
            } catch (IllegalArgumentException e) {
                loaded = new Loaded(last.builds(), stamp, Optional.of(e.getMessage()));
                LOG.warn("{} changed but does not read ({}); keeping the VMM builds {} until it does", file, e.getMessage(),
                        last.builds().versions());
                return last.builds();
            }
        }
    }

    /** Why the file's last change was not taken, when it was not. */
    public Optional<String> problem() {
        get();
        return loaded.problem();
    }

    private VmmBuilds read() {
        List<String> specs = new ArrayList<>(fixed);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("--vmm-builds-file " + file + ": cannot read it: " + e.getMessage());
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int hash = line.indexOf('#');
            String spec = (hash >= 0 ? line.substring(0, hash) : line).strip();
            if (!spec.isEmpty()) {
                try {
                    VmmBuilds.parse(spec);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("--vmm-builds-file " + file + " line " + (i + 1) + ": " + e.getMessage());
                }
                specs.add(spec);
            }
        }
        try {
            return VmmBuilds.of(specs);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--vmm-builds-file " + file + ": " + e.getMessage());
        }
    }

    /** What tells one version of the file from another; a missing file is a version of its own. */
    private List<Object> stamp() {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return List.of(a.lastModifiedTime(), a.size(), String.valueOf(a.fileKey()));
        } catch (IOException e) {
            return List.of("missing");
        }
    }
}
