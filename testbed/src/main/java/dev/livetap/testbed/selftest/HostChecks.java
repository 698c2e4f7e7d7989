package dev.livetap.testbed.selftest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The host prerequisites of real TAP migrations, checked without opening anything. */
public final class HostChecks {
    /** One line of the selftest table. */
    public record Check(String name, boolean ok, String detail) {
    }

    private HostChecks() {
    }

    public static List<Check> run() {
        List<Check> checks = new ArrayList<>();
        Path tun = Path.of("/dev/net/tun");
        checks.add(Files.exists(tun)
                ? new Check("/dev/net/tun", true, "present")
                : new Check("/dev/net/tun", false, "missing: the kernel has no TUN/TAP driver loaded (modprobe tun) or this container hides it"));
        checks.add(netAdmin());
        checks.add(tool("ip", "iproute2"));
        checks.add(tool("ping", "iputils-ping"));
        return checks;
    }

    static Check netAdmin() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    long caps = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    boolean ok = (caps & (1L << 12)) != 0;
                    return new Check("CAP_NET_ADMIN", ok, ok ? "effective" : "missing: run as root (TUNSETIFF and namespaces need CAP_NET_ADMIN)");
                }
            }
        } catch (IOException | NumberFormatException e) {
            return new Check("CAP_NET_ADMIN", false, "cannot read /proc/self/status: " + e.getMessage());
        }
        return new Check("CAP_NET_ADMIN", false, "no CapEff line in /proc/self/status");
    }

    static Check tool(String name, String debianPackage) {
        Optional<Path> found = which(name);
        return found.map(p -> new Check(name, true, p.toString()))
                .orElseGet(() -> new Check(name, false, "not installed: apt-get install -y " + debianPackage));
    }

    /** The first executable named {@code name} on PATH (plus /usr/sbin and /sbin, where ip lives). */
    public static Optional<Path> which(String name) {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin";
        for (String dir : path.split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }
}
