package dev.livetap.fleet.agent;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The VMM builds a host agent can start, by version label: its own build (always, under
 * {@link #thisBuild()} and {@link #CURRENT}) and each {@code livetap agent --vmm-build
 * VERSION=LAUNCHER[,stream-format=N]}, whose launcher is run as {@code LAUNCHER vmm ARGS} (another
 * livetap distribution's {@code bin/livetap}). {@code stream-format} declares the stream format the
 * build writes (for builds older than the {@code x-stream-format} parameter, which cannot be asked).
 */
public final class VmmBuilds {
    /** The label that means the agent's own build ({@code livetap fleet start}'s default). */
    public static final String CURRENT = "current";
    private static final String FORMAT_KEY = ",stream-format=";
    private static final String HOME_PROPERTY = "-Dlivetap.home=";

    /**
     * One build.
     *
     * @param launcher     null: the agent's own build (this JVM's java and class path)
     * @param streamFormat the stream format it writes, when declared; empty: asked from its VMM
     */
    public record Build(String version, Path launcher, Optional<Integer> streamFormat) {
    }

    private final Map<String, Build> builds;

    private VmmBuilds(Map<String, Build> builds) {
        this.builds = Map.copyOf(builds);
    }

    /** This build's version (the jar's Implementation-Version; 0.2.0 when run from classes). */
    public static String thisBuild() {
        String v = VmmBuilds.class.getPackage().getImplementationVersion();
        return v == null ? "0.2.0" : v;
    }

    /** Only the agent's own build. */
    public static VmmBuilds own() {
        return new VmmBuilds(Map.of(thisBuild(), new Build(thisBuild(), null, Optional.empty())));
    }

    /**
     * The agent's own build and {@code specs} ({@code VERSION=LAUNCHER[,stream-format=N]} each).
     *
     * @throws IllegalArgumentException a spec that is malformed, names a launcher that is not an executable file,
     *                                  or repeats a version (its own build's included)
     */
    public static VmmBuilds of(List<String> specs) {
        Map<String, Build> all = new TreeMap<>();
        all.put(thisBuild(), new Build(thisBuild(), null, Optional.empty()));
        for (String spec : specs) {
            Build b = parse(spec);
            if (all.containsKey(b.version())) {
                throw new IllegalArgumentException("--vmm-build " + spec + ": version " + b.version() + " is given twice"
                        + (b.version().equals(thisBuild()) ? " (it is this agent's own build)" : ""));
            }
            all.put(b.version(), b);
        }
        return new VmmBuilds(all);
    }

    static Build parse(String spec) {
        int eq = spec.indexOf('=');
        if (eq <= 0 || eq == spec.length() - 1) {
            throw new IllegalArgumentException("--vmm-build expects VERSION=LAUNCHER[,stream-format=N]: " + spec);
        }
        String version = spec.substring(0, eq);
        if (CURRENT.equals(version)) {
            throw new IllegalArgumentException("--vmm-build " + spec + ": '" + CURRENT + "' names the agent's own build");
        }
        String launcher = spec.substring(eq + 1);
        Optional<Integer> format = Optional.empty();
        int f = launcher.lastIndexOf(FORMAT_KEY);
        if (f >= 0) {
            String n = launcher.substring(f + FORMAT_KEY.length());
            launcher = launcher.substring(0, f);
            try {
                format = Optional.of(Integer.parseInt(n));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--vmm-build " + spec + ": stream-format expects a number: " + n);
            }
            if (format.get() < 1) {
                throw new IllegalArgumentException("--vmm-build " + spec + ": stream-format must be at least 1: " + n);
            }
        }
        Path path = Path.of(launcher).toAbsolutePath().normalize();
        if (!Files.isRegularFile(path) || !Files.isExecutable(path)) {
            throw new IllegalArgumentException("--vmm-build " + spec + ": the launcher is not an executable file: " + path);
        }
        return new Build(version, path, format);
    }

    /** The build of {@code version} ({@link #CURRENT}: the agent's own); empty when the agent has none. */
    public Optional<Build> get(String version) {
        return Optional.ofNullable(builds.get(CURRENT.equals(version) ? thisBuild() : version));
    }

    /**
     * Whether an agent whose port lists {@code versions} starts a VMM of {@code version}: {@link #CURRENT} always; any
     * version when the list is empty (a port that does not tell builds apart).
     */
    public static boolean offers(List<String> versions, String version) {
        return versions.isEmpty() || CURRENT.equals(version) || versions.contains(version);
    }

    /**
     * The version of the build a {@code livetap vmm} process with {@code commandLine} runs, when it can be told: a
     * {@code -Dlivetap.home=HOME} (what a distribution's {@code bin/livetap} passes its JVM) names the build whose
     * launcher is {@code HOME/bin/livetap}, or the agent's own when HOME is its own {@code livetap.home}; without it, a
     * class path equal to this JVM's is the agent's own build (how it starts one itself). Empty otherwise.
     */
    public Optional<String> ofCommandLine(List<String> commandLine) {
        for (int i = 0; i < commandLine.size(); i++) {
            String a = commandLine.get(i);
            if (a.startsWith(HOME_PROPERTY)) {
                Path home = Path.of(a.substring(HOME_PROPERTY.length())).toAbsolutePath().normalize();
                String own = System.getProperty("livetap.home");
                if (own != null && Path.of(own).toAbsolutePath().normalize().equals(home)) {
                    return Optional.of(thisBuild());
                }
                return builds.values().stream().filter(b -> b.launcher() != null && b.launcher().getParent() != null
                        && home.equals(b.launcher().getParent().getParent())).map(Build::version).findFirst();
            }
        }
        for (int i = 0; i + 1 < commandLine.size(); i++) {
            String a = commandLine.get(i);
            if (("-cp".equals(a) || "-classpath".equals(a)) && commandLine.get(i + 1).equals(System.getProperty("java.class.path"))) {
                return Optional.of(thisBuild());
            }
        }
        return Optional.empty();
    }

    /**
     * Whether a step onto {@code targetVersion} leaves a VM that runs build {@code runs} where it is (the agent closes it
     * {@code SKIPPED already on V}; {@code fleet plan} counts it as already on the target): only a plan that names a
     * version skips; {@link #CURRENT} asks for a new process of the agent's own build whatever the VM runs (a restart in
     * place, e.g. after a host library update). A VM whose build cannot be told is moved.
     */
    public static boolean alreadyOn(String targetVersion, Optional<String> runs) {
        return !CURRENT.equals(targetVersion) && runs.isPresent() && runs.get().equals(targetVersion);
    }

    /** The versions, sorted. */
    public List<String> versions() {
        return builds.keySet().stream().sorted().toList();
    }
}
