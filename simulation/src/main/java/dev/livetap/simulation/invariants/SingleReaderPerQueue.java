package dev.livetap.simulation.invariants;

import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.Reactor;
import dev.livetap.simulation.SimRun;
import dev.livetap.simulation.trace.RecordingOs;
import java.util.Map;
import java.util.TreeMap;

/**
 * At every instant at most one process reads each TAP queue (design semantic 7): no two
 * processes hold a reactor registration with READ interest on descriptors of the same open TAP
 * queue file. Read from the in-memory OS (the registrations the reactor serves), not from actor
 * states, so a process that reads behind its actors' back is caught too.
 */
public final class SingleReaderPerQueue implements Invariant {
    @Override
    public String name() {
        return "SingleReaderPerQueue";
    }

    @Override
    public void afterStep(SimRun run) {
        int readers = 0;
        for (SimRun.Vm vm : run.vms()) {
            if (!vm.crashed() && readsATapQueue(vm.os())) {
                readers++;
            }
        }
        if (readers < 2) {
            return; // cheap path (every step): at most one process reads any TAP queue at all
        }
        Map<Long, String> readerOf = new TreeMap<>();
        for (SimRun.Vm vm : run.vms()) {
            if (vm.crashed()) {
                continue;
            }
            Map<Integer, Long> files = OpenFiles.tapQueues(vm.os().base());
            for (RecordingOs.Tracked r : vm.os().registrations()) {
                if ((r.interest() & Reactor.READ) == 0 || !r.fd().isOpen()) {
                    continue;
                }
                Long file = files.get(r.fd().number());
                if (file == null) {
                    continue;
                }
                String other = readerOf.putIfAbsent(file, vm.name());
                if (other != null && !other.equals(vm.name())) {
                    throw violation("TAP queue file #" + file + " is read by " + other + " and " + vm.name()
                            + " at once (" + run.kernel().clock().nanos() / 1_000_000 + " ms virtual)");
                }
            }
        }
    }

    /** READ interest on an open TUN descriptor (fstat on the in-memory process itself: not traced). */
    private static boolean readsATapQueue(RecordingOs os) {
        for (RecordingOs.Tracked r : os.registrations()) {
            if ((r.interest() & Reactor.READ) == 0 || !r.fd().isOpen()) {
                continue;
            }
            try {
                if (os.base().fds().kind(r.fd()) == FdKind.TUN) {
                    return true;
                }
            } catch (RuntimeException racedWithClose) {
                return true; // undecided: the full check below decides
            }
        }
        return false;
    }
}
