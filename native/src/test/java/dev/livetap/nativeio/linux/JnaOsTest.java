package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.Availability;
import dev.livetap.nativeio.MonotonicClock;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.nativeio.testing.HostCapabilities;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class JnaOsTest {
    @Test
    void oneInstancePerProcessWithOneReactor() {
        assertSame(JnaOs.instance(), JnaOs.instance(), "JnaOs is a process singleton");
        assertSame(JnaOs.instance().reactor(), JnaOs.instance().reactor(), "the process has one reactor");
        assertSame(MonotonicClock.SYSTEM, JnaOs.instance().clock(), "time is CLOCK_MONOTONIC");
    }

    @Test
    void availabilityMatchesThisHost() {
        Availability a = JnaOs.instance().availability();
        assertTrue(a.nativeAccess(), "JNA binds libc here");
        boolean root = HostCapabilities.effectiveUid() == 0;
        if (root) {
            // This machine is documented to have /dev/net/tun and to run tests as root: a degraded answer is a bug here.
            assertTrue(a.tapCapable(), "root with /dev/net/tun is TAP-capable; cause reported: " + a.unavailabilityCause());
            assertTrue(a.unavailabilityCause().isEmpty(), "no cause when everything is available");
        } else {
            assertTrue(a.unavailabilityCause().isPresent(), "without root a cause is given");
        }
    }

    @Test
    void theTestThreadIsInTheProcessNamespace() {
        assertTrue(JnaOs.instance().threadInProcessNetns(), "no test thread moves itself to another namespace");
    }

    @Test
    void closingTwiceIsLoggedNotThrownAndDupIsCloexec() {
        FdCounter counter = FdCounter.snapshot();
        OwnedFd[] pipe = JnaOs.instance().fds().pipe();
        OwnedFd copy = pipe[1].dup();
        assertEquals(LinuxC.FD_CLOEXEC, LinuxC.fcntl(copy.fd(), LinuxC.F_GETFD, 0) & LinuxC.FD_CLOEXEC, "dup is F_DUPFD_CLOEXEC");
        OwnedFd.closeAll(java.util.List.of(pipe[0], pipe[1], copy));
        pipe[0].close(); // OwnedFd makes a second close a no-op
        // A raw close of a number nobody holds reaches close(2): EBADF is logged as a double-close bug, never thrown.
        // (A recycled real number could belong to another thread's file by now, so none is used.)
        LinuxFdOps.INSTANCE.close(Integer.MAX_VALUE - 1);
        counter.assertNoLeak();
    }
}
