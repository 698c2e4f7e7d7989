package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FramingException;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.testing.FdCounter;
import dev.livetap.nativeio.testing.HostCapabilities;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class UnixSocketsTest {
    private final UnixSockets unix = JnaOs.instance().unix();
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
        Collections.reverse(toClose);
        OwnedFd.closeAll(toClose);
        counter.assertNoLeak();
    }

    private OwnedFd[] pair() {
        OwnedFd[] p = unix.socketPair();
        toClose.addAll(List.of(p));
        return p;
    }

    private OwnedFd[] pipe() {
        OwnedFd[] p = fds.pipe();
        toClose.addAll(List.of(p));
        return p;
    }

    @Test
    void fdsTravelWithTheirBytesAndArriveAsNewDescriptorsOfTheSameFiles() {
        OwnedFd[] s = pair();
        OwnedFd[] p = pipe();
        ByteBuffer out = ByteBuffer.wrap("hello".getBytes(StandardCharsets.US_ASCII));
        assertEquals(5, unix.sendmsg(s[0], out, List.of(p[0], p[1])), "sendmsg sends the whole small message");
        assertEquals(5, out.position(), "sendmsg advances the buffer by the bytes sent");

        ByteBuffer in = ByteBuffer.allocateDirect(64);
        List<OwnedFd> got = new ArrayList<>();
        assertEquals(5, unix.recvmsg(s[1], in, got, 8), "recvmsg returns the bytes of the message");
        toClose.addAll(got);
        in.flip();
        byte[] bytes = new byte[in.remaining()];
        in.get(bytes);
        assertEquals("hello", new String(bytes, StandardCharsets.US_ASCII));
        assertEquals(2, got.size(), "both fds arrive, in order");
        assertTrue(fds.sameOpenFile(got.get(0), p[0]), "the first received fd is the pipe's read end");
        assertTrue(fds.sameOpenFile(got.get(1), p[1]), "the second received fd is the pipe's write end");
        for (OwnedFd fd : got) {
            assertTrue((LinuxC.fcntl(fd.fd(), LinuxC.F_GETFD, 0) & LinuxC.FD_CLOEXEC) != 0,
                    "received fds are close-on-exec (MSG_CMSG_CLOEXEC)");
        }
    }

    @Test
    void socketsAreNonBlockingAndCloseOnExec() {
        OwnedFd[] s = pair();
        for (OwnedFd fd : s) {
            assertTrue(fds.isNonBlocking(fd), "socketpair ends are non-blocking");
            assertTrue((LinuxC.fcntl(fd.fd(), LinuxC.F_GETFD, 0) & LinuxC.FD_CLOEXEC) != 0, "socketpair ends are close-on-exec");
        }
    }

    @Test
    void heapBuffersWorkLikeDirectOnes() {
        OwnedFd[] s = pair();
        byte[] payload = new byte[3000];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) i;
        }
        ByteBuffer out = ByteBuffer.wrap(payload, 100, 2900).slice();
        assertEquals(2900, unix.sendmsg(s[0], out, List.of()));
        ByteBuffer in = ByteBuffer.allocate(4000);
        in.position(10);
        List<OwnedFd> got = new ArrayList<>();
        assertEquals(2900, unix.recvmsg(s[1], in, got, 0), "a fd-less message is received whole");
        assertEquals(2910, in.position(), "recvmsg advances the buffer from its position");
        byte[] expected = new byte[2900];
        System.arraycopy(payload, 100, expected, 0, 2900);
        byte[] actual = new byte[2900];
        System.arraycopy(in.array(), 10, actual, 0, 2900);
        assertArrayEquals(expected, actual, "bytes arrive unchanged through the heap staging buffer");
        assertTrue(got.isEmpty(), "no fds were sent");
    }

    @Test
    void wouldBlockPathsReturnZeroOrNull() throws IOException {
        OwnedFd[] s = pair();
        List<OwnedFd> got = new ArrayList<>();
        assertEquals(0, unix.recvmsg(s[1], ByteBuffer.allocate(16), got, 4), "recvmsg on an empty socket returns 0 (EAGAIN)");

        OwnedFd listener = unix.listen(dir.resolve("l.sock"), 0600);
        toClose.add(listener);
        assertNull(unix.accept(listener), "accept with no pending connection returns null (EAGAIN)");

        ByteBuffer chunk = ByteBuffer.allocateDirect(64 * 1024);
        long sent = 0;
        int rounds = 0;
        int n;
        do {
            chunk.clear();
            n = unix.sendmsg(s[0], chunk, List.of());
            sent += n;
            rounds++;
        } while (n > 0 && rounds < 10_000);
        assertEquals(0, n, "sendmsg on a full socket returns 0 (EAGAIN) instead of blocking, after " + sent + " bytes");
        OwnedFd[] p = pipe();
        ByteBuffer one = ByteBuffer.wrap(new byte[] {1});
        assertEquals(0, unix.sendmsg(s[0], one, List.of(p[0])), "a would-block sendmsg with fds sends nothing");
        assertEquals(0, one.position(), "nothing sent: the buffer position is unchanged");
    }

    @Test
    void endOfStreamIsMinusOneAndWritingToAClosedPeerNamesTheCall() {
        OwnedFd[] s = unix.socketPair();
        OwnedFd keep = s[0];
        toClose.add(keep);
        s[1].close();
        assertEquals(-1, unix.recvmsg(keep, ByteBuffer.allocate(8), new ArrayList<>(), 4), "recvmsg returns -1 at end of stream");
        NativeException e = assertThrows(NativeException.class,
                () -> unix.sendmsg(keep, ByteBuffer.wrap(new byte[] {1}), List.of()), "sendmsg to a closed peer fails");
        assertEquals("sendmsg", e.call());
        assertEquals(LinuxC.EPIPE, e.errno(), "a closed peer is EPIPE");
        assertTrue(e.getMessage().contains("EPIPE") && e.getMessage().contains("peer closed"), e.getMessage());
    }

    @Test
    void truncatedControlDataClosesWhatArrivedAndRaises() {
        OwnedFd[] s = pair();
        List<OwnedFd> ten = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ten.addAll(List.of(pipe()));
        }
        FdCounter before = FdCounter.snapshot();
        int ownedBefore = OwnedFd.openCount();
        assertEquals(1, unix.sendmsg(s[0], ByteBuffer.wrap(new byte[] {7}), ten));
        List<OwnedFd> got = new ArrayList<>();
        FramingException e = assertThrows(FramingException.class,
                () -> unix.recvmsg(s[1], ByteBuffer.allocate(8), got, 2), "10 fds into room for 2 must raise (MSG_CTRUNC)");
        assertTrue(e.getMessage().contains("MSG_CTRUNC"), e.getMessage());
        assertTrue(e.getMessage().contains("the 2 fds that arrived were closed"), e.getMessage());
        assertTrue(got.isEmpty(), "a rejected message hands out no fds");
        assertEquals(ownedBefore, OwnedFd.openCount(), "the fds that arrived with a truncated message are closed");
        before.assertNoNewKernelFds("nothing installed stays open");
    }

    @Test
    void zeroRoomForFdsIsATruncationToo() {
        OwnedFd[] s = pair();
        OwnedFd[] p = pipe();
        unix.sendmsg(s[0], ByteBuffer.wrap(new byte[] {7}), List.of(p[0]));
        assertThrows(FramingException.class, () -> unix.recvmsg(s[1], ByteBuffer.allocate(8), new ArrayList<>(), 0),
                "a receiver that allows no fds must reject a message that carries one, not drop it silently");
    }

    @Test
    void mostFdsPerMessageIsScmMaxFd() {
        OwnedFd[] s = pair();
        OwnedFd[] p = pipe();
        List<OwnedFd> max = Collections.nCopies(UnixSockets.SCM_MAX_FD, p[0]);
        assertEquals(1, unix.sendmsg(s[0], ByteBuffer.wrap(new byte[] {1}), max), "253 fds fit one sendmsg");
        List<OwnedFd> got = new ArrayList<>();
        try {
            assertEquals(1, unix.recvmsg(s[1], ByteBuffer.allocate(8), got, UnixSockets.SCM_MAX_FD));
            assertEquals(UnixSockets.SCM_MAX_FD, got.size(), "all 253 fds arrive");
        } finally {
            OwnedFd.closeAll(got);
        }
        List<OwnedFd> tooMany = Collections.nCopies(UnixSockets.SCM_MAX_FD + 1, p[0]);
        NativeException e = assertThrows(NativeException.class, () -> unix.sendmsg(s[0], ByteBuffer.wrap(new byte[] {1}), tooMany),
                "254 fds in one sendmsg are refused with EINVAL, as the kernel would");
        assertEquals(22, e.errno(), "EINVAL: " + e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> unix.sendmsg(s[0], ByteBuffer.allocate(0), List.of(p[0])),
                "fds need a data byte to ride on");
    }

    @Test
    void otherControlMessagesAreSkippedAndFdsStillFound() {
        OwnedFd[] s = pair();
        OwnedFd[] p = pipe();
        Memory one = new Memory(4);
        one.setInt(0, 1);
        assertEquals(0, LinuxC.setsockopt(s[1].fd(), LinuxC.SOL_SOCKET, LinuxC.SO_PASSCRED, one, 4), "SO_PASSCRED set");
        unix.sendmsg(s[0], ByteBuffer.wrap(new byte[] {1}), List.of(p[0], p[1]));
        List<OwnedFd> got = new ArrayList<>();
        assertEquals(1, unix.recvmsg(s[1], ByteBuffer.allocate(8), got, UnixSockets.SCM_MAX_FD),
                "an SCM_CREDENTIALS cmsg before SCM_RIGHTS is walked past");
        toClose.addAll(got);
        assertEquals(2, got.size(), "both fds are found after the credentials cmsg");
        assertTrue(fds.sameOpenFile(got.get(1), p[1]));
    }

    @Test
    void peerCredentialsNameThisProcess() {
        OwnedFd[] s = pair();
        PeerCredentials c = unix.peerCredentials(s[0]);
        assertEquals(ProcessHandle.current().pid(), c.pid(), "SO_PEERCRED of a socketpair is this pid");
        assertEquals(HostCapabilities.effectiveUid(), c.uid(), "SO_PEERCRED carries this uid");
    }

    @Test
    void pathSocketsListenConnectAcceptAndReportTheirPeer() throws IOException {
        Path path = dir.resolve("m.sock");
        OwnedFd listener = unix.listen(path, 0600);
        toClose.add(listener);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(path)), "listen applies the mode");
        OwnedFd client = unix.connect(path);
        toClose.add(client);
        OwnedFd server = null;
        for (int i = 0; i < 100 && server == null; i++) {
            server = unix.accept(listener);
        }
        assertTrue(server != null, "a connect to a path socket is pending at once");
        toClose.add(server);
        assertTrue(fds.isNonBlocking(server) && fds.isNonBlocking(client), "both ends are non-blocking");
        assertEquals(ProcessHandle.current().pid(), unix.peerCredentials(server).pid());
        unix.sendmsg(client, ByteBuffer.wrap(new byte[] {42}), List.of());
        ByteBuffer in = ByteBuffer.allocate(4);
        assertEquals(1, unix.recvmsg(server, in, new ArrayList<>(), 0));
        assertEquals(42, in.get(0));
    }

    @Test
    void listenRefusesAnExistingPathAndAnOverlongOne() throws IOException {
        Path path = dir.resolve("x.sock");
        OwnedFd listener = unix.listen(path, 0600);
        toClose.add(listener);
        NativeException e = assertThrows(NativeException.class, () -> unix.listen(path, 0600), "listen replaces nothing");
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        Path longPath = dir.resolve("y".repeat(120));
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> unix.listen(longPath, 0600));
        assertTrue(tooLong.getMessage().contains("sun_path"), tooLong.getMessage());
        assertFalse(Files.exists(longPath));
    }

    @Test
    void connectToNothingSaysWhyAndUnlinkRemovesOnlySockets() throws IOException {
        Path path = dir.resolve("gone.sock");
        NativeException e = assertThrows(NativeException.class, () -> unix.connect(path));
        assertEquals("connect", e.call());
        assertEquals(LinuxC.ENOENT, e.errno());
        assertTrue(e.getMessage().contains(path.toString()) && e.getMessage().contains("ENOENT"), e.getMessage());

        OwnedFd listener = unix.listen(path, 0600);
        listener.close();
        NativeException refused = assertThrows(NativeException.class, () -> unix.connect(path), "a stale socket refuses");
        assertEquals(LinuxC.ECONNREFUSED, refused.errno(), refused.getMessage());
        unix.unlinkSocket(path);
        assertFalse(Files.exists(path), "unlinkSocket removes a stale socket");
        unix.unlinkSocket(path); // absent: nothing to do
        Path file = Files.writeString(dir.resolve("plain"), "x");
        assertThrows(IllegalArgumentException.class, () -> unix.unlinkSocket(file), "unlinkSocket never removes a regular file");
        assertTrue(Files.exists(file));
    }
}
