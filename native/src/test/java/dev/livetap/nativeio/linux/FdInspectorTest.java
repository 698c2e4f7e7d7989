package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.nativeio.testing.RequiresTun;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FdInspectorTest {
    private final FdInspector fds = JnaOs.instance().fds();
    private final List<OwnedFd> toClose = new ArrayList<>();
    private FdCounter counter;

    @TempDir
    Path dir;

    @BeforeEach
    void snapshot() {
        counter = FdCounter.snapshot();
    }

    @AfterEach
    void noLeak() {
        OwnedFd.closeAll(toClose);
        counter.assertNoLeak();
    }

    private OwnedFd open(String path, int flags) {
        int fd = LinuxC.open(path, flags | LinuxC.O_CLOEXEC, 0);
        assertTrue(fd >= 0, "open " + path + ": " + Errno.describe(LinuxC.errno()));
        OwnedFd owned = LinuxFdOps.adopt(fd);
        toClose.add(owned);
        return owned;
    }

    @Test
    @RequiresTun
    void tunDeviceIsCharacterDevice10Colon200() {
        // Opening /dev/net/tun without TUNSETIFF creates no interface, so this may run outside a namespace.
        assertEquals(FdKind.TUN, fds.kind(open(LinuxTun.DEVICE, LinuxC.O_RDWR)), "fstat of /dev/net/tun is TUN (char 10:200)");
    }

    @Test
    void fstatClassifiesPipesSocketsDevicesFilesAndDirectories() throws IOException {
        OwnedFd[] pipe = fds.pipe();
        toClose.addAll(List.of(pipe));
        OwnedFd[] pair = JnaOs.instance().unix().socketPair();
        toClose.addAll(List.of(pair));
        assertEquals(FdKind.PIPE, fds.kind(pipe[0]));
        assertEquals(FdKind.PIPE, fds.kind(pipe[1]));
        assertEquals(FdKind.SOCKET, fds.kind(pair[0]));
        assertEquals(FdKind.OTHER_CHAR_DEVICE, fds.kind(open("/dev/null", LinuxC.O_RDWR)), "/dev/null is a char device but not TUN");
        Path file = Files.writeString(dir.resolve("f"), "x");
        assertEquals(FdKind.REGULAR_FILE, fds.kind(open(file.toString(), 0)));
        assertEquals(FdKind.DIRECTORY, fds.kind(open(dir.toString(), 0)));
    }

    @Test
    void majorMinorDecodeLikeGlibc() {
        long tun = (10L << 8) | 200; // makedev(10, 200)
        assertEquals(10, LinuxFdInspector.major(tun));
        assertEquals(200, LinuxFdInspector.minor(tun));
        // makedev(0x12345, 0x6789a): major bits 8..19 and 44..63, minor bits 0..7 and 20..43
        long big = ((0x12345L & 0xfff) << 8) | ((0x12345L & ~0xfffL) << 32) | (0x6789aL & 0xff) | ((0x6789aL & ~0xffL) << 12);
        assertEquals(0x12345, LinuxFdInspector.major(big));
        assertEquals(0x6789a, LinuxFdInspector.minor(big));
    }

    @Test
    void kcmpSeesADupAsTheSameOpenFileAndTwoOpensAsDifferent() {
        OwnedFd[] pipe = fds.pipe();
        toClose.addAll(List.of(pipe));
        OwnedFd copy = pipe[0].dup();
        toClose.add(copy);
        OwnedFd nullA = open("/dev/null", LinuxC.O_RDWR);
        OwnedFd nullB = open("/dev/null", LinuxC.O_RDWR);
        assertTrue(copy.number() != pipe[0].number(), "a dup is a new number");
        assertTrue(fds.sameOpenFile(pipe[0], copy), "kcmp(KCMP_FILE): a dup is the same open file");
        assertFalse(fds.sameOpenFile(pipe[0], pipe[1]), "kcmp(KCMP_FILE): the two ends of a pipe are different open files");
        assertFalse(fds.sameOpenFile(nullA, nullB), "two opens of one path are different open files");
        assertTrue((LinuxC.fcntl(copy.fd(), LinuxC.F_GETFD, 0) & LinuxC.FD_CLOEXEC) != 0, "dup is close-on-exec (F_DUPFD_CLOEXEC)");
    }

    @Test
    void nonBlockingFlagReadsAndWrites() {
        OwnedFd[] pipe = fds.pipe();
        toClose.addAll(List.of(pipe));
        assertTrue(fds.isNonBlocking(pipe[0]), "pipe() returns non-blocking ends");
        fds.setNonBlocking(pipe[0], false);
        assertFalse(fds.isNonBlocking(pipe[0]));
        fds.setNonBlocking(pipe[0], true);
        assertTrue(fds.isNonBlocking(pipe[0]));
    }

    @Test
    void processFdCountFollowsOpensAndCloses() {
        // Other threads of a JVM open and close descriptors too (the process reaper closes a finished
        // child's pipes, the JVM reads cgroup files): a few attempts, one of which must see only ours.
        boolean seen = false;
        for (int attempt = 0; attempt < 10 && !seen; attempt++) {
            int before = fds.countProcessFds();
            OwnedFd[] pipe = fds.pipe();
            int opened = fds.countProcessFds();
            OwnedFd.closeAll(List.of(pipe));
            int closed = fds.countProcessFds();
            seen = opened == before + 2 && closed == before;
        }
        assertTrue(seen, "a pipe adds two entries to /proc/self/fd and closing them removes both");
    }
}
