package dev.livetap.nativeio.bench;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.linux.JnaOs;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The raw fd hand-off, one thread: sendmsg of {@code fds} descriptors over a socketpair (one
 * SCM_RIGHTS message per 253), recvmsg of all of them, and close(2) of every received one
 * (the kernel installs a new descriptor per fd, so a hand-off always pays for closing them).
 * Comparable with stack.md's C figures, which exclude the close.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class HandoffBenchmark {
    @Param({"1", "4", "64", "253", "256"})
    public int fds;

    private UnixSockets unix;
    private OwnedFd[] pair;
    private OwnedFd[] pipe;
    private List<List<OwnedFd>> chunks;
    private final ByteBuffer out = ByteBuffer.allocateDirect(1);
    private final ByteBuffer in = ByteBuffer.allocateDirect(16);
    private final List<OwnedFd> received = new ArrayList<>(UnixSockets.SCM_MAX_FD);

    @Setup(Level.Trial)
    public void setUp() {
        JnaOs os = JnaOs.instance();
        unix = os.unix();
        pair = unix.socketPair();
        pipe = os.fds().pipe();
        chunks = new ArrayList<>();
        for (int left = fds; left > 0; left -= UnixSockets.SCM_MAX_FD) {
            chunks.add(Collections.nCopies(Math.min(left, UnixSockets.SCM_MAX_FD), pipe[0]));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        OwnedFd.closeAll(List.of(pair[0], pair[1], pipe[0], pipe[1]));
    }

    @Benchmark
    public int sendReceiveClose() {
        int total = 0;
        for (List<OwnedFd> chunk : chunks) {
            out.clear();
            if (unix.sendmsg(pair[0], out, chunk) != 1) {
                throw new IllegalStateException("sendmsg would block on an empty socketpair");
            }
            in.clear();
            if (unix.recvmsg(pair[1], in, received, UnixSockets.SCM_MAX_FD) != 1) {
                throw new IllegalStateException("recvmsg found nothing after a sendmsg");
            }
            total += received.size();
            OwnedFd.closeAll(received);
            received.clear();
        }
        if (total != fds) {
            throw new IllegalStateException("received " + total + " of " + fds + " fds");
        }
        return total;
    }
}
