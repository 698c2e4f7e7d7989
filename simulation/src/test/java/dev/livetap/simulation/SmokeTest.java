package dev.livetap.simulation;

import dev.livetap.simulation.invariants.Invariants;
import dev.livetap.simulation.runtime.Quiet;
import dev.livetap.simulation.runtime.SimSystem;
import java.util.List;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void oneRun() {
        Quiet.logs();
        SimSystem sim = SimSystem.start();
        try {
            for (Fault f : Fault.values()) {
                for (Phase p : f.phases()) {
                    RunOptions base = RunOptions.derive(7, List.of(Fault.NONE), 4, 4);
                    RunOptions o = new RunOptions(base.seed(), f == Fault.SAME_FD_TWICE ? 4 : base.queues(), f, p, 1, false,
                            f == Fault.POST_LOAD_FAILURE || f == Fault.VHOST_SETUP_FAILURE, 3, true, base.timeouts(),
                            f == Fault.SWITCHOVER_LIMIT ? 50 : 0, f == Fault.SWITCHOVER_LIMIT ? 60 : 20_000, 5, 0x40, 3);
                    long t0 = System.nanoTime();
                    SimRun.Result r = new SimRun(sim, o, Invariants.all(), 1, 0, null).run();
                    System.out.printf("%-26s %-20s %-28s inj=%-5s %5.1f ms steps=%d lines=%d %s%n", f.id(), p.id(), r.outcome(),
                            r.faultInjected(), (System.nanoTime() - t0) / 1e6, r.steps(), r.traceLines(),
                            r.violation() == null ? "" : "VIOLATION " + r.violation().getMessage().substring(0, Math.min(400, r.violation().getMessage().length())));
                }
            }
        } finally {
            sim.close();
        }
    }
}
