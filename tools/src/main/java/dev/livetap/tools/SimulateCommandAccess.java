package dev.livetap.tools;

import dev.livetap.simulation.Fault;
import java.util.List;

/** The command's option parsers, for tests and other entry points. */
public final class SimulateCommandAccess {
    private SimulateCommandAccess() {
    }

    public static List<Fault> faults(String s) {
        return SimulateCommand.parseFaults(s);
    }

    public static int[] range(String s) {
        return SimulateCommand.parseRange(s);
    }
}
