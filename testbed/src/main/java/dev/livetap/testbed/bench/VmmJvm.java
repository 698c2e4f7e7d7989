package dev.livetap.testbed.bench;

import dev.livetap.testbed.launch.ChildLaunch;
import java.util.ArrayList;
import java.util.List;

/** Which JVM options the bench's VMM children start with: those of {@code livetap vmm}, or none (the JDK's ergonomics). */
public enum VmmJvm {
    livetap,
    jdk;

    /** These options for a VMM process of {@code vms} VMs, then {@code extra}: a later option wins over an earlier one. */
    public List<String> with(int vms, List<String> extra) {
        List<String> all = new ArrayList<>(this == livetap ? ChildLaunch.vmmJvmOptions(vms) : List.of());
        all.addAll(extra);
        return all;
    }
}
