package dev.livetap.testbed.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.testbed.bench.VmmJvm;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A VMM's JVM options by its number of VMs: whole-JVM compile thresholds from {@link ChildLaunch#MANY_VMS} on (as bin/livetap). */
class VmmJvmOptionsTest {
    private static final String WHOLE_JVM = "-XX:CompileThresholdScaling=0.05";

    @Test
    void fewVmsKeepThePerPackageThresholds() {
        assertEquals(ChildLaunch.VMM_JVM_OPTIONS, ChildLaunch.vmmJvmOptions(1));
        assertEquals(ChildLaunch.VMM_JVM_OPTIONS, ChildLaunch.vmmJvmOptions(ChildLaunch.MANY_VMS - 1));
        assertFalse(ChildLaunch.VMM_JVM_OPTIONS.stream().anyMatch(o -> o.startsWith("-XX:CompileThresholdScaling")));
    }

    @Test
    void manyVmsLowerTheThresholdsOfTheWholeJvm() {
        List<String> many = ChildLaunch.vmmJvmOptions(ChildLaunch.MANY_VMS);
        assertEquals(ChildLaunch.VMM_JVM_OPTIONS, many.subList(0, ChildLaunch.VMM_JVM_OPTIONS.size()));
        assertEquals(List.of(WHOLE_JVM), many.subList(ChildLaunch.VMM_JVM_OPTIONS.size(), many.size()));
        assertEquals(many, ChildLaunch.vmmJvmOptions(1000));
    }

    @Test
    void benchesChooseByTheirVmsPerProcessAndTheirExtraOptionsComeLast() {
        assertEquals(ChildLaunch.VMM_JVM_OPTIONS, VmmJvm.livetap.with(1, List.of()));
        List<String> concurrent = VmmJvm.livetap.with(100, List.of("-Xmx1g"));
        assertTrue(concurrent.contains(WHOLE_JVM));
        assertEquals("-Xmx1g", concurrent.get(concurrent.size() - 1));
        assertEquals(List.of("-Xmx1g"), VmmJvm.jdk.with(100, List.of("-Xmx1g")));
    }
}
