package dev.livetap.tools;

import dev.livetap.engine.vmm.VmmMain;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/**
 * {@code livetap vmm} in the command list: the VMM parses its own options ({@link VmmMain}, no
 * picocli), and {@link LivetapCommand#main} hands {@code vmm} to it before building this command line.
 */
@Command(name = "vmm",
        description = {"Runs VM endpoints, each behind a QMP socket (mode 0600, same uid only).",
            "Options: see 'livetap vmm --help'."})
public final class VmmCommand implements Callable<Integer> {
    @Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() {
        return VmmMain.run(args);
    }
}
