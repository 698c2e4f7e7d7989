package dev.livetap.simulation.doubles;

import dev.livetap.actors.tap.VhostBackend;
import dev.livetap.actors.tap.VhostException;
import dev.livetap.nativeio.OwnedFd;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * A vhost backend for tests and the simulation: records every call in order and fails on
 * request ({@link #failOpen}, {@link #failSetUp}). Thread-safe: every queue actor of a process
 * shares it, and they run on several dispatcher threads (an unsynchronized list lost a call once).
 */
public final class RecordingVhostBackend implements VhostBackend {

    /** One recorded call. */
    public sealed interface Call {
        int queueIndex();
    }

    public record Opened(int queueIndex, long handle) implements Call {
    }

    /** {@code tapFdNumber} is the descriptor number at the time of the call, for assertions only. */
    public record SetUp(int queueIndex, long handle, int tapFdNumber) implements Call {
    }

    public record TornDown(int queueIndex, long handle) implements Call {
    }

    private final List<Call> calls = new ArrayList<>();
    private final Set<Integer> failOpen = new TreeSet<>();
    private final Set<Integer> failSetUp = new TreeSet<>();
    private final Set<Long> live = new TreeSet<>();
    private String failureReason = "injected failure";
    private long nextHandle = 1;

    /** Makes {@link #open} fail for these queues. */
    public synchronized RecordingVhostBackend failOpen(int... queueIndexes) {
        for (int q : queueIndexes) {
            failOpen.add(q);
        }
        return this;
    }

    /** Makes {@link #setUp} fail for these queues. */
    public synchronized RecordingVhostBackend failSetUp(int... queueIndexes) {
        for (int q : queueIndexes) {
            failSetUp.add(q);
        }
        return this;
    }

    /** The reason injected failures give. */
    public synchronized RecordingVhostBackend failingWith(String reason) {
        this.failureReason = reason;
        return this;
    }

    public synchronized List<Call> calls() {
        return List.copyOf(calls);
    }

    /** Queues opened and not torn down: must be 0 after a run (no leak). */
    public synchronized int liveCount() {
        return live.size();
    }

    @Override
    public synchronized boolean isAvailable() {
        return true;
    }

    @Override
    public synchronized Optional<String> unavailabilityCause() {
        return Optional.empty();
    }

    @Override
    public synchronized VhostQueue open(int queueIndex) {
        if (failOpen.contains(queueIndex)) {
            throw new VhostException(failureReason);
        }
        VhostQueue q = new VhostQueue(queueIndex, nextHandle++);
        live.add(q.handle());
        calls.add(new Opened(queueIndex, q.handle()));
        return q;
    }

    @Override
    public synchronized void setUp(VhostQueue queue, OwnedFd tapFd) {
        if (!live.contains(queue.handle())) {
            throw new VhostException("vhost queue " + queue + " is not open");
        }
        int fdNumber = tapFd.fd(); // fails on a closed fd, as the kernel would with EBADF
        if (failSetUp.contains(queue.queueIndex())) {
            throw new VhostException(failureReason);
        }
        calls.add(new SetUp(queue.queueIndex(), queue.handle(), fdNumber));
    }

    @Override
    public synchronized void tearDown(VhostQueue queue) {
        if (live.remove(queue.handle())) {
            calls.add(new TornDown(queue.queueIndex(), queue.handle()));
        }
    }
}
