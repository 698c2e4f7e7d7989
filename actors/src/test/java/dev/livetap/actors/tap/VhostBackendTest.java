package dev.livetap.actors.tap;

import dev.livetap.simulation.doubles.RecordingVhostBackend;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.FdOps;
import dev.livetap.nativeio.OwnedFd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VhostBackendTest {
    /** Descriptors that are only numbers: nothing real is opened or closed. */
    private static final FdOps NUMBERS_ONLY = new FdOps() {
        @Override
        public void close(int fd) {
        }

        @Override
        public int dup(int fd) {
            return fd + 1000;
        }
    };

    @Test
    void postLoadErrorText() {
        assertEquals("Failed to setup vhost during TAP post-load: injected failure",
                VhostBackend.postLoadFailure("injected failure"));
    }

    @Test
    void kernelVhostNetSaysWhyItIsAbsent(@TempDir Path dir) {
        KernelVhostNet absent = new KernelVhostNet(dir.resolve("vhost-net"));
        assertFalse(absent.isAvailable());
        assertEquals(dir.resolve("vhost-net") + " does not exist (this kernel is built without CONFIG_VHOST_NET)",
                absent.unavailabilityCause().orElseThrow());
        VhostException e = assertThrows(VhostException.class, () -> absent.open(0));
        assertEquals(KernelVhostNet.OPEN_FAILED, e.getMessage(), "QEMU's text for a missing /dev/vhost-net");
        absent.tearDown(new VhostBackend.VhostQueue(0, 1));
    }

    @Test
    void kernelVhostNetPresentButNotImplementedStillFailsLoudly(@TempDir Path dir) throws Exception {
        Path dev = Files.createFile(dir.resolve("vhost-net"));
        KernelVhostNet present = new KernelVhostNet(dev);
        assertFalse(present.isAvailable(), "livetap has no vhost ioctls: it must not claim vhost works");
        assertTrue(present.unavailabilityCause().orElseThrow().contains("no vhost ioctls"));
    }

    @Test
    void thisMachinesKernelHasNoVhostNet() {
        // stack.md: CONFIG_VHOST_NET is not set here, so the real backend cannot be exercised.
        KernelVhostNet real = new KernelVhostNet();
        assertFalse(real.isAvailable());
        if (!Files.exists(KernelVhostNet.DEVICE)) {
            assertEquals(KernelVhostNet.ABSENT, real.unavailabilityCause().orElseThrow());
        }
    }

    @Test
    void recordingBackendRecordsInOrder() {
        RecordingVhostBackend vhost = new RecordingVhostBackend();
        try (OwnedFd tap = OwnedFd.adopt(7, NUMBERS_ONLY)) {
            VhostBackend.VhostQueue q0 = vhost.open(0);
            VhostBackend.VhostQueue q1 = vhost.open(1);
            vhost.setUp(q0, tap);
            vhost.tearDown(q0);
            vhost.tearDown(q0);
            vhost.tearDown(q1);
            assertEquals(List.of(
                    new RecordingVhostBackend.Opened(0, 1),
                    new RecordingVhostBackend.Opened(1, 2),
                    new RecordingVhostBackend.SetUp(0, 1, 7),
                    new RecordingVhostBackend.TornDown(0, 1),
                    new RecordingVhostBackend.TornDown(1, 2)), vhost.calls(), "a second tearDown is a no-op");
            assertEquals(0, vhost.liveCount());
        }
    }

    @Test
    void recordingBackendFailsOnRequest() {
        RecordingVhostBackend vhost = new RecordingVhostBackend().failOpen(2).failSetUp(1).failingWith("EBUSY");
        assertEquals("EBUSY", assertThrows(VhostException.class, () -> vhost.open(2)).getMessage());
        VhostBackend.VhostQueue q1 = vhost.open(1);
        try (OwnedFd tap = OwnedFd.adopt(9, NUMBERS_ONLY)) {
            assertEquals("EBUSY", assertThrows(VhostException.class, () -> vhost.setUp(q1, tap)).getMessage());
        }
        vhost.tearDown(q1);
        assertEquals(0, vhost.liveCount());
    }

    @Test
    void recordingBackendRefusesAClosedTapFdOrUnopenedQueue() {
        RecordingVhostBackend vhost = new RecordingVhostBackend();
        VhostBackend.VhostQueue q = vhost.open(0);
        OwnedFd tap = OwnedFd.adopt(5, NUMBERS_ONLY);
        tap.close();
        assertThrows(IllegalStateException.class, () -> vhost.setUp(q, tap));
        assertThrows(VhostException.class, () -> vhost.setUp(new VhostBackend.VhostQueue(3, 99), tap));
        vhost.tearDown(q);
    }
}
