package dev.livetap.simulation.invariants;

import dev.livetap.nativeio.memory.InMemoryOs;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Which TAP queue open file ("struct file") each descriptor of an in-memory process refers to. */
final class OpenFiles {
    private static final Pattern TUN = Pattern.compile("(?m)^fd (\\d+): tun queue of (\\S+?)(?: \\(detached\\))?#(\\d+) ");

    private OpenFiles() {
    }

    /** fd number → open file id, for TAP queue descriptors only. */
    static Map<Integer, Long> tapQueues(InMemoryOs os) {
        Map<Integer, Long> m = new TreeMap<>();
        Matcher x = TUN.matcher(os.describeOpenFds());
        while (x.find()) {
            m.put(Integer.parseInt(x.group(1)), Long.parseLong(x.group(3)));
        }
        return m;
    }
}
