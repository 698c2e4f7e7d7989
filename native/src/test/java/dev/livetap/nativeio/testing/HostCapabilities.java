package dev.livetap.nativeio.testing;

import dev.livetap.nativeio.linux.JnaOs;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** What this host offers to tests, each answer with the reason when the answer is no. */
public final class HostCapabilities {
    private HostCapabilities() {
    }

    /** Absolute path of iproute2's {@code ip}, if installed. */
    public static Optional<Path> ipCommand() {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)));
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin"));
        for (String dir : dirs) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, "ip");
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** The effective uid from /proc/self/status, or -1 when unreadable. */
    public static int effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.substring(4).trim().split("\\s+")[1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Why root-level namespace tests cannot run here, or empty when they can. */
    public static Optional<String> whyNotRoot() {
        List<String> reasons = new ArrayList<>();
        int uid = effectiveUid();
        if (uid != 0) {
            reasons.add("not root (effective uid " + uid + "): ip netns needs root");
        }
        if (ipCommand().isEmpty()) {
            reasons.add("iproute2's ip is not installed (apt-get install -y iproute2)");
        }
        return reasons.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", reasons));
    }

    /** Why real-TAP tests cannot run here, or empty when they can. */
    public static Optional<String> whyNoTun() {
        List<String> reasons = new ArrayList<>();
        try {
            JnaOs.instance().availability().unavailabilityCause().ifPresent(reasons::add);
        } catch (LinkageError e) {
            reasons.add("the native layer cannot load: " + e);
        }
        whyNotRoot().ifPresent(reasons::add);
        return reasons.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", reasons));
    }
}
