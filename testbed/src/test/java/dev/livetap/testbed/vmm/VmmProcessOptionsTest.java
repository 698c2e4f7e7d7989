package dev.livetap.testbed.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.livetap.testbed.launch.ChildLaunch;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each of {@link VmmProcess.Options}' withers changes its own field and keeps every other one. */
class VmmProcessOptionsTest {
    private static final Path DIR = Path.of("/tmp/vmm-options");
    private static final Path LAUNCHER = Path.of("/opt/livetap-0.1.9/bin/livetap");

    /** Options whose every field differs from {@link VmmProcess.Options#of}'s, so a wither that drops one shows. */
    private static VmmProcess.Options base() {
        return new VmmProcess.Options(DIR, "n", DIR.resolve("x.qmp"), List.of("nice"), ChildLaunch.Policy.DETACHED,
                List.of("-Xmx64m"), List.of("-Da=b"), List.of("--vms", "2"), true, true, 2, true, "cp/*", "Main", LAUNCHER);
    }

    @Test
    void eachWitherChangesItsFieldOnly() {
        VmmProcess.Options b = base();
        Path q = DIR.resolve("y.qmp");
        assertEquals(new VmmProcess.Options(DIR, "n", q, b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(), b.vmmArgs(),
                true, true, 2, true, "cp/*", "Main", LAUNCHER), b.withQmp(q));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), List.of("ip", "netns", "exec", "ns1"), b.policy(), b.jvmOptions(),
                b.extraJvmOptions(), b.vmmArgs(), true, true, 2, true, "cp/*", "Main", LAUNCHER), b.inNamespace("ip", "ns1"));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), ChildLaunch.Policy.DIES_WITH_PARENT, b.jvmOptions(),
                b.extraJvmOptions(), b.vmmArgs(), true, true, 2, true, "cp/*", "Main", LAUNCHER), b.withPolicy(ChildLaunch.Policy.DIES_WITH_PARENT));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), List.of(), b.extraJvmOptions(), b.vmmArgs(),
                true, true, 2, true, "cp/*", "Main", LAUNCHER), b.withJvmOptions(List.of()));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), List.of(), b.vmmArgs(),
                true, true, 2, true, "cp/*", "Main", LAUNCHER), b.withExtraJvmOptions(List.of()));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                List.of(), true, true, 2, true, "cp/*", "Main", LAUNCHER), b.withArgs(List.of()));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), false, true, 2, true, "cp/*", "Main", LAUNCHER), b.withIncoming(false));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), true, false, 2, true, "cp/*", "Main", LAUNCHER), b.withPaused(false));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), true, true, 5, true, "cp/*", "Main", LAUNCHER), b.withReadyLines(5));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), true, true, 2, false, "cp/*", "Main", LAUNCHER), b.withMergedStderr(false));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), true, true, 2, true, null, "Main", LAUNCHER), b.withClassPath(null));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), true, true, 2, true, "cp/*", null, LAUNCHER), b.withMainClass(null));
        assertEquals(new VmmProcess.Options(DIR, "n", b.qmp(), b.prefix(), b.policy(), b.jvmOptions(), b.extraJvmOptions(),
                b.vmmArgs(), true, true, 2, true, "cp/*", "Main", null), b.withLauncher(null));
    }

    @Test
    void aWitherGoesThroughTheRecordsChecks() {
        assertThrows(IllegalArgumentException.class, () -> base().withReadyLines(0), "readyLines must be at least 1");
        assertThrows(NullPointerException.class, () -> base().withPolicy(null), "a policy is required");
    }
}
