package dev.livetap.testbed.vmm;

import dev.livetap.testbed.launch.ChildLaunch;
import dev.livetap.testbed.ChildProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@code livetap vmm} child JVM on this JVM's class path with the VMM's JVM options
 * ({@link ChildLaunch#VMM_JVM_OPTIONS}), inside a private network namespace when one can be made
 * (design decision 6). {@link #awaitReady} waits for its {@code READY <qmp>} line.
 */
public final class LivetapVmmProcess implements AutoCloseable {
    private final String name;
    private final Path qmp;
    private final ChildProcess child;

    private LivetapVmmProcess(String name, Path qmp, ChildProcess child) {
        this.name = name;
        this.qmp = qmp;
        this.child = child;
    }

    /**
     * Starts {@code livetap vmm --qmp DIR/NAME.qmp --name NAME [--incoming] [--paused] extra...}; does
     * not wait.
     */
    public static LivetapVmmProcess start(Path dir, String name, boolean incoming, boolean paused, List<String> extraArgs) {
        Path qmp = dir.resolve(name + ".qmp");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"), "-Xss1m"));
        cmd.addAll(ChildLaunch.VMM_JVM_OPTIONS);
        String jnaTmp = System.getProperty("jna.tmpdir");
        if (jnaTmp != null) {
            cmd.add("-Djna.tmpdir=" + jnaTmp);
        }
        cmd.addAll(List.of(ChildLaunch.VMM_MAIN_CLASS, "vmm", "--qmp", qmp.toString(), "--name", name));
        if (incoming) {
            cmd.add("--incoming");
        }
        if (paused) {
            cmd.add("--paused");
        }
        cmd.addAll(extraArgs);
        return new LivetapVmmProcess(name, qmp, ChildProcess.start(ChildProcess.inPrivateNetns(cmd), dir, name));
    }

    /** Waits (bounded) for {@code READY <qmp>} on stdout; false if the process exits or the time passes first. */
    public boolean awaitReady(Duration timeout) {
        return child.awaitOutput("READY " + qmp, timeout);
    }

    public String name() {
        return name;
    }

    public Path qmpSocket() {
        return qmp;
    }

    public ChildProcess process() {
        return child;
    }

    @Override
    public void close() {
        child.close();
    }
}
