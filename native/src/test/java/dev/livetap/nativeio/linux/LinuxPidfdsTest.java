package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** pidfd_open/pidfd_getfd refusals name the call and the errno (the success path runs in the chaos runner's socket drop). */
class LinuxPidfdsTest {
    @Test
    void aProcessThatDoesNotExistIsRefusedByPidfdOpen() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> LinuxPidfds.instance().shutdown(Integer.MAX_VALUE, 0));
        assertTrue(e.getMessage().startsWith("pidfd_open(" + Integer.MAX_VALUE + ") failed: errno "), e.getMessage());
    }

    @Test
    void aDescriptorThatIsNotOpenIsRefusedByPidfdGetfd() {
        long self = ProcessHandle.current().pid();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> LinuxPidfds.instance().shutdown(self, 1_000_000));
        assertTrue(e.getMessage().startsWith("pidfd_getfd(" + self + ", 1000000) failed: errno "), e.getMessage());
    }
}
