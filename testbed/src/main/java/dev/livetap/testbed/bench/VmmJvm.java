package dev.livetap.testbed.bench;

import dev.livetap.testbed.launch.ChildLaunch;
import java.util.ArrayList;
import java.util.List;

/** Which JVM options the bench's VMM children start with: those of {@code livetap vmm}, or none (the JDK's ergonomics). */
public enum VmmJvm {
    livetap(ChildLaunch.VMM_JVM_OPTIONS),
    jdk(List.of());

    private final List<String> options;

    VmmJvm(List<String> options) {
        this.options = options;
    }

    /** These options, then {@code extra}: a later option wins over an earlier one. */
    public List<String> with(List<String> extra) {
        List<String> all = new ArrayList<>(options);
        all.addAll(extra);
        return all;
    }
}
