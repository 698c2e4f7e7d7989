package dev.livetap.testbed.guest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;

/**
 * A Linux guest for real QEMU: the Debian cloud kernel and a busybox initramfs that loads the
 * virtio-net driver, gives {@code eth0} {@value #GUEST_CIDR} and answers ping. Built from Debian
 * packages into a cache directory outside the repository ({@code $LIVETAP_GUEST_CACHE} or
 * {@code ~/.cache/livetap/guest}, one subdirectory per kernel version, with a {@code manifest.json}).
 * The kernel is resolved through the metapackage {@value #METAPACKAGE}, not pinned. The initramfs is
 * reproducible (sorted entries, mtime 0, gzip without a timestamp), so its sha256 is stable for a
 * kernel version and busybox build. Uses only the JDK, so {@code scripts/guest-image} runs it with
 * {@code java -cp testbed/target/classes}.
 *
 * @param kernelPackage the versioned Debian package, e.g. {@code linux-image-6.1.0-57-cloud-amd64}
 * @param kernelRelease its {@code uname -r}, e.g. {@code 6.1.0-57-cloud-amd64}
 * @param packageVersion the Debian version of that package, e.g. {@code 6.1.192-3}
 */
public record GuestImage(String kernelPackage, String kernelRelease, String packageVersion, Path directory,
        Path kernel, Path initrd, String kernelSha256, String initrdSha256, long initrdBytes, List<String> modules) {
    public static final String METAPACKAGE = "linux-image-cloud-amd64";
    public static final String GUEST_CIDR = "10.0.1.2/24";
    public static final String GUEST_ADDRESS = "10.0.1.2";
    /** The line the guest's /init writes to the console once eth0 has its address. */
    public static final String READY_LINE = "livetap-guest: eth0 ready";
    /** The drivers the guest needs; their dependencies come first, in the order the modules declare them. */
    static final List<String> ROOT_MODULES = List.of("virtio_pci", "virtio_net");
    static final Path BUSYBOX = Path.of("/bin/busybox");
    private static final Duration APT = Duration.ofMinutes(3);
    private static final Duration LOCAL = Duration.ofMinutes(1);
    private static final Pattern DEPENDS = Pattern.compile("Depends:\\s*(linux-image-(\\S+))");

    /** The kernel or the busybox initramfs cannot be made here (no apt, no network, no busybox-static). */
    public static final class UnavailableException extends Exception {
        public UnavailableException(String message) {
            super(message);
        }
    }

    /** {@code $LIVETAP_GUEST_CACHE}, else {@code ~/.cache/livetap/guest}. */
    public static Path defaultCacheRoot() {
        String env = System.getenv("LIVETAP_GUEST_CACHE");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "livetap", "guest");
    }

    /** Empty when the host tools this builder runs are installed; else what is missing. */
    public static Optional<String> unavailabilityCause() {
        List<String> missing = new ArrayList<>();
        for (String tool : List.of("apt-get", "apt-cache", "dpkg-deb")) {
            if (findOnPath(tool).isEmpty()) {
                missing.add(tool);
            }
        }
        if (!Files.isExecutable(BUSYBOX)) {
            missing.add(BUSYBOX + " (Debian package busybox-static)");
        }
        return missing.isEmpty() ? Optional.empty() : Optional.of("cannot build the guest image, missing: " + missing);
    }

    /**
     * The image for the kernel the metapackage names today: reused from {@code cacheRoot} when its
     * manifest matches the files, built otherwise.
     */
    public static GuestImage obtain(Path cacheRoot) throws UnavailableException {
        Optional<String> cause = unavailabilityCause();
        if (cause.isPresent()) {
            throw new UnavailableException(cause.get());
        }
        String kernelPackage = resolveKernelPackage();
        String release = kernelPackage.substring("linux-image-".length());
        Path dir = cacheRoot.resolve(release);
        Optional<GuestImage> cached = readManifest(dir);
        if (cached.isPresent()) {
            return cached.get();
        }
        return build(kernelPackage, release, dir);
    }

    /** The versioned kernel package the metapackage depends on ({@code apt-get update} once if apt has no lists). */
    static String resolveKernelPackage() throws UnavailableException {
        Result show = run(APT, List.of("apt-cache", "depends", METAPACKAGE));
        if (!show.ok() || !DEPENDS.matcher(show.output).find()) {
            Result update = run(APT, List.of("apt-get", "update"));
            if (!update.ok()) {
                throw new UnavailableException("apt-get update failed: " + update.tail());
            }
            show = run(APT, List.of("apt-cache", "depends", METAPACKAGE));
        }
        Matcher m = DEPENDS.matcher(show.output);
        if (!show.ok() || !m.find()) {
            throw new UnavailableException("apt-cache depends " + METAPACKAGE + " names no kernel: " + show.tail());
        }
        return m.group(1);
    }

    private static GuestImage build(String kernelPackage, String release, Path dir) throws UnavailableException {
        Path work = null;
        try {
            work = Files.createTempDirectory("livetap-guest-build");
            Result download = run(APT, List.of("apt-get", "download", kernelPackage), work);
            if (!download.ok()) {
                throw new UnavailableException("apt-get download " + kernelPackage + " failed: " + download.tail());
            }
            Path deb;
            try (Stream<Path> s = Files.list(work)) {
                deb = s.filter(p -> p.getFileName().toString().endsWith(".deb")).findFirst()
                        .orElseThrow(() -> new UnavailableException("apt-get download left no .deb in " + kernelPackage));
            }
            String version = deb.getFileName().toString().split("_")[1];
            Path tree = work.resolve("tree");
            Result extract = run(LOCAL, List.of("dpkg-deb", "-x", deb.toString(), tree.toString()));
            if (!extract.ok()) {
                throw new UnavailableException("dpkg-deb -x " + deb + " failed: " + extract.tail());
            }
            Path vmlinuz = tree.resolve("boot").resolve("vmlinuz-" + release);
            if (!Files.isRegularFile(vmlinuz)) {
                throw new UnavailableException(kernelPackage + " holds no boot/vmlinuz-" + release);
            }
            Map<String, byte[]> modules = loadOrder(tree.resolve("lib/modules").resolve(release), work);
            byte[] initrd = initramfs(modules);
            // built beside its final place, then renamed: a reader never sees half an image
            Path staging = Files.createTempDirectory(Files.createDirectories(dir.toAbsolutePath().getParent()), release + ".tmp");
            try {
                Path kernel = staging.resolve("vmlinuz");
                Files.copy(vmlinuz, kernel, StandardCopyOption.REPLACE_EXISTING);
                Files.write(staging.resolve("initrd.gz"), initrd);
                GuestImage image = new GuestImage(kernelPackage, release, version, dir, dir.resolve("vmlinuz"),
                        dir.resolve("initrd.gz"), sha256(Files.readAllBytes(kernel)), sha256(initrd), initrd.length,
                        List.copyOf(modules.keySet()));
                Files.writeString(staging.resolve("manifest.json"), image.manifestJson());
                deleteTree(dir);
                Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
                return image;
            } finally {
                deleteTree(staging);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot build the guest image in " + dir, e);
        } finally {
            if (work != null) {
                deleteTree(work);
            }
        }
    }

    /**
     * The modules of {@link #ROOT_MODULES} and their dependencies, dependencies first (the
     * {@code depends=} field of each module's .modinfo: the package ships no modules.dep), each
     * decompressed when the package ships it as .ko.xz or .ko.zst (busybox insmod reads plain .ko).
     */
    static Map<String, byte[]> loadOrder(Path moduleTree, Path work) throws IOException, UnavailableException {
        Map<String, Path> byName = new LinkedHashMap<>();
        try (Stream<Path> s = Files.walk(moduleTree)) {
            for (Path p : s.filter(Files::isRegularFile).sorted().toList()) {
                String f = p.getFileName().toString();
                int ko = f.indexOf(".ko");
                if (ko > 0) {
                    byName.putIfAbsent(f.substring(0, ko).replace('-', '_'), p);
                }
            }
        }
        Map<String, byte[]> ordered = new LinkedHashMap<>();
        for (String root : ROOT_MODULES) {
            visit(root, byName, ordered, new LinkedHashSet<>(), work);
        }
        return ordered;
    }

    private static void visit(String name, Map<String, Path> byName, Map<String, byte[]> ordered, LinkedHashSet<String> path,
            Path work) throws IOException, UnavailableException {
        if (ordered.containsKey(name)) {
            return;
        }
        if (!path.add(name)) {
            throw new UnavailableException("module dependency cycle: " + path + " -> " + name);
        }
        Path file = byName.get(name);
        if (file == null) {
            throw new UnavailableException("the kernel package has no module " + name + " (built in? needed by " + path + ")");
        }
        byte[] ko = decompressed(file, work);
        for (String dep : depends(ko)) {
            visit(dep, byName, ordered, path, work);
        }
        path.remove(name);
        ordered.put(name, ko);
    }

    private static byte[] decompressed(Path file, Path work) throws IOException, UnavailableException {
        String f = file.getFileName().toString();
        String tool = f.endsWith(".xz") ? "xz" : f.endsWith(".zst") ? "zstd" : null;
        if (tool == null) {
            return Files.readAllBytes(file);
        }
        Path out = work.resolve(f.substring(0, f.lastIndexOf('.')));
        Result r = run(LOCAL, List.of(tool, "-d", "-c", file.toString()), work, out);
        if (!r.ok()) {
            throw new UnavailableException(tool + " -d " + file + " failed (install " + tool + "): " + r.tail());
        }
        return Files.readAllBytes(out);
    }

    /** The {@code depends=a,b} string of a module's .modinfo section. */
    static List<String> depends(byte[] ko) {
        String text = new String(ko, StandardCharsets.ISO_8859_1);
        int at = text.indexOf("\0depends=");
        if (at < 0) {
            return List.of();
        }
        int start = at + "\0depends=".length();
        String value = text.substring(start, text.indexOf('\0', start));
        return value.isEmpty() ? List.of() : List.of(value.split(","));
    }

    static String initScript(List<String> modules) {
        StringBuilder s = new StringBuilder("#!/bin/busybox sh\n")
                .append("# livetap guest: load virtio-net, address eth0, answer ping, sleep\n")
                .append("bb=/bin/busybox\n")
                .append("$bb mount -t proc proc /proc\n")
                .append("$bb mount -t sysfs sysfs /sys\n")
                .append("$bb mount -t devtmpfs devtmpfs /dev\n");
        for (String m : modules) {
            s.append("$bb insmod /lib/modules/").append(m).append(".ko\n");
        }
        s.append("i=0\n")
                .append("while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do $bb usleep 50000; i=$((i+1)); done\n")
                .append("$bb ip link set lo up\n")
                .append("$bb ip link set eth0 up\n")
                .append("$bb ip addr add ").append(GUEST_CIDR).append(" dev eth0\n")
                .append("echo '").append(READY_LINE).append("'\n")
                .append("while true; do $bb sleep 3600; done\n");
        return s.toString();
    }

    static byte[] initramfs(Map<String, byte[]> modules) throws IOException {
        Cpio cpio = new Cpio().directory("bin").directory("dev").directory("lib").directory("lib/modules")
                .directory("proc").directory("sys")
                .charDevice("dev/console", 0600, 5, 1)
                .file("bin/busybox", 0755, Files.readAllBytes(BUSYBOX))
                .file("init", 0755, initScript(List.copyOf(modules.keySet())).getBytes(StandardCharsets.UTF_8));
        modules.forEach((name, ko) -> cpio.file("lib/modules/" + name + ".ko", 0644, ko));
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        // GZIPOutputStream writes mtime 0 and no file name: the bytes depend on the content only
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
            out.write(cpio.toBytes());
        }
        return gz.toByteArray();
    }

    /** The manifest of {@code dir} when it exists and the files still have the recorded hashes. */
    static Optional<GuestImage> readManifest(Path dir) {
        Path manifest = dir.resolve("manifest.json");
        try {
            if (!Files.isRegularFile(manifest)) {
                return Optional.empty();
            }
            String json = Files.readString(manifest);
            GuestImage image = new GuestImage(field(json, "kernelPackage"), field(json, "kernelRelease"),
                    field(json, "packageVersion"), dir, dir.resolve("vmlinuz"), dir.resolve("initrd.gz"),
                    field(json, "kernelSha256"), field(json, "initrdSha256"), Long.parseLong(field(json, "initrdBytes")),
                    List.of(field(json, "modules").split(",")));
            if (!Files.isRegularFile(image.kernel) || !Files.isRegularFile(image.initrd)
                    || !sha256(Files.readAllBytes(image.kernel)).equals(image.kernelSha256)
                    || !sha256(Files.readAllBytes(image.initrd)).equals(image.initrdSha256)) {
                return Optional.empty();
            }
            return Optional.of(image);
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // a damaged cache is rebuilt
        }
    }

    /** A value of the manifest this class writes: one {@code "key": value} per line. */
    private static String field(String json, String name) {
        String key = "\"" + name + "\":";
        for (String line : json.split("\n")) {
            String l = line.strip();
            if (l.startsWith(key)) {
                String value = l.substring(key.length()).strip();
                if (value.endsWith(",")) {
                    value = value.substring(0, value.length() - 1);
                }
                return value.startsWith("\"") && value.endsWith("\"") ? value.substring(1, value.length() - 1) : value;
            }
        }
        throw new IllegalArgumentException("manifest has no " + name);
    }

    /** The manifest: flat JSON, one key per line, strings except the size (module names joined by commas). */
    public String manifestJson() {
        return "{\n"
                + "  \"kernelPackage\": \"" + kernelPackage + "\",\n"
                + "  \"kernelRelease\": \"" + kernelRelease + "\",\n"
                + "  \"packageVersion\": \"" + packageVersion + "\",\n"
                + "  \"kernelSha256\": \"" + kernelSha256 + "\",\n"
                + "  \"initrdSha256\": \"" + initrdSha256 + "\",\n"
                + "  \"initrdBytes\": " + initrdBytes + ",\n"
                + "  \"modules\": \"" + String.join(",", modules) + "\"\n"
                + "}\n";
    }

    /** One line for test output: what was booted. */
    public String describe() {
        return "guest kernel " + kernelPackage + " " + packageVersion + " sha256 " + kernelSha256 + ", initrd "
                + initrdBytes + " bytes sha256 " + initrdSha256;
    }

    /** {@code scripts/guest-image}: builds or reuses the image and prints its paths and manifest. */
    public static void main(String[] args) throws Exception {
        Path root = args.length > 0 ? Path.of(args[0]) : defaultCacheRoot();
        try {
            GuestImage image = obtain(root);
            System.out.println("kernel: " + image.kernel);
            System.out.println("initrd: " + image.initrd);
            System.out.println("manifest: " + image.directory.resolve("manifest.json"));
            System.out.print(image.manifestJson());
        } catch (UnavailableException e) {
            System.err.println("guest-image: " + e.getMessage());
            System.exit(2); // a command-line entry point, not library code
        }
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + root, e);
        }
    }

    private static Optional<Path> findOnPath(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(d, name))) {
                return Optional.of(Path.of(d, name));
            }
        }
        return Optional.empty();
    }

    private record Result(int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }

        String tail() {
            String s = output.strip();
            return s.length() > 600 ? "..." + s.substring(s.length() - 600) : s;
        }
    }

    private static Result run(Duration timeout, List<String> command) {
        return run(timeout, command, null, null);
    }

    private static Result run(Duration timeout, List<String> command, Path dir) {
        return run(timeout, command, dir, null);
    }

    /** Runs {@code command} in {@code dir}, stdout to {@code stdout} when given; killed after {@code timeout} (exit -1). */
    private static Result run(Duration timeout, List<String> command, Path dir, Path stdout) {
        try {
            Path log = Files.createTempFile("livetap-guest-cmd", ".log");
            try {
                ProcessBuilder pb = new ProcessBuilder(command).redirectError(log.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
                pb.redirectOutput(stdout != null ? stdout.toFile() : log.toFile());
                if (stdout == null) {
                    pb.redirectErrorStream(true);
                }
                if (dir != null) {
                    pb.directory(dir.toFile());
                }
                Process p = pb.start();
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    return new Result(-1, "timed out after " + timeout + ": " + command);
                }
                return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(log);
            }
        } catch (IOException e) {
            return new Result(-1, "cannot start " + command + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted: " + command);
        }
    }
}
