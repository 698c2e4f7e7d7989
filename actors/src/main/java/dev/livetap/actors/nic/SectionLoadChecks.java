package dev.livetap.actors.nic;

import dev.livetap.codec.StateStruct;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.OwnedFd;
import java.util.Arrays;
import java.util.List;

/** The checks a NIC runs on an incoming section's queues together, before any queue takes an fd. */
final class SectionLoadChecks {
    private SectionLoadChecks() {
    }

    /** The checks on all queues together, before any queue takes an fd; null when they pass. */
    static String crossQueueCheck(boolean peersWait, int queues, FdInspector fds, StateStruct nic) {
        if (nic != null && !peersWait) {
            return "the stream carries the backend (" + VirtioNetSchema.NIC_SUBSECTION
                    + ") but this NIC's peers do not wait for incoming state (incoming-fds=off)";
        }
        if (nic == null && peersWait) {
            return "the stream carries no backend state ('local', backend-transfer or local-migration-supported off on"
                    + " the source) but this NIC's peers wait for incoming fds";
        }
        if (nic == null) {
            return null;
        }
        List<StateStruct> states = nic.getArray("peers");
        if (states.size() != queues) {
            return "the stream carries " + states.size() + " peer states but this NIC has " + queues + " queues";
        }
        List<OwnedFd> received = nic.fds();
        if (received.size() != queues) {
            return "expected " + queues + " fds (one per queue) but the stream carries " + received.size();
        }
        int[] twice = sameOpenFileTwice(fds, received);
        if (twice != null) {
            return "the fds of queues " + twice[0] + " and " + twice[1] + " are the same open file (kcmp): one TAP queue"
                    + " cannot serve two queues";
        }
        return null;
    }

    /**
     * Two positions of {@code list} whose fds are the same open file (lower position first), or null:
     * the positions sorted by kcmp's order of open files, then neighbours compared (n log n kcmp
     * calls, not n²: at 256 queues the pairwise check cost tens of ms of downtime).
     */
    static int[] sameOpenFileTwice(FdInspector fds, List<OwnedFd> list) {
        Integer[] order = new Integer[list.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        // A comparison sort compares every two neighbours of its result directly (nothing else can
        // order them), so two positions of one open file meet in the comparator: no second pass.
        int[][] found = {null};
        Arrays.sort(order, (x, y) -> {
            int c = fds.compareOpenFiles(list.get(x), list.get(y));
            if (c != 0) {
                return c;
            }
            int a = Math.min(x, y);
            int b = Math.max(x, y);
            if (found[0] == null || a < found[0][0] || a == found[0][0] && b < found[0][1]) {
                found[0] = new int[] {a, b};
            }
            return Integer.compare(x, y);
        });
        return found[0];
    }
}
