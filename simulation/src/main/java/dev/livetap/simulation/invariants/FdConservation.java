package dev.livetap.simulation.invariants;

import dev.livetap.nativeio.memory.FdLedger;
import dev.livetap.simulation.SimRun;

/**
 * Every descriptor is owned by exactly one side or closed, none leaked, none closed twice: each
 * process's ledger balances after every step (opened − closed = open; a second close of a number
 * is EBADF and surfaces as an uncaught failure), and after the teardown (device_del, netdev_del,
 * actors stopped) no process holds any descriptor; a crashed process holds none after the kernel
 * closed its table.
 */
public final class FdConservation implements Invariant {
    @Override
    public String name() {
        return "FdConservation";
    }

    @Override
    public void afterStep(SimRun run) {
        for (SimRun.Vm vm : run.vms()) {
            FdLedger l = vm.os().base().ledger();
            if (!l.conserved()) {
                throw violation(vm.name() + "'s descriptor ledger does not balance: " + l);
            }
        }
    }

    @Override
    public void atEnd(SimRun run) {
        for (SimRun.Vm vm : run.vms()) {
            FdLedger l = vm.os().base().ledger();
            if (l.open() != 0) {
                throw violation(vm.name() + " still holds " + l.open() + " descriptor(s) after the teardown"
                        + (vm.crashed() ? " (crashed)" : "") + ":\n" + vm.os().base().describeOpenFds().strip());
            }
        }
    }
}
