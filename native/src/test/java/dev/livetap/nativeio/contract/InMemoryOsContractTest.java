package dev.livetap.nativeio.contract;

import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.memory.InMemoryOs;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;

/** The contract on the in-memory OS: TAPs always exist; driving means running its reactor. */
class InMemoryOsContractTest extends OsContractTest {
    private InMemoryOs memory;

    @Override
    protected Os createOs() {
        memory = new InMemoryOs();
        return memory;
    }

    @Override
    protected void releaseOs(Os released) {
        memory.reactor().close();
    }

    @Override
    protected void assumeTapAvailable() {
        // TAP devices always exist in memory.
    }

    @Override
    protected List<OwnedFd> openTapQueues(String name, int n, int flags) {
        return memory.tun().openQueues(name, n, flags);
    }

    /** Virtual time: {@code max} does not apply; the reactor runs until the condition holds or nothing is ready. */
    @Override
    protected boolean drive(BooleanSupplier until, Duration max) {
        return memory.reactor().runUntil(until);
    }
}
