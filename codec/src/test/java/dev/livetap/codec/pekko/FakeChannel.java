package dev.livetap.codec.pekko;

import dev.livetap.nativeio.Frame;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.PeerCredentials;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One end of an in-test connected pair of frame channels: a single "reactor" thread delivers
 * frames to the handler, honours pause/resume, dups fds on send as the kernel does, and reports
 * an orderly end when the peer closes.
 */
final class FakeChannel implements FrameChannel {
    private final ExecutorService reactor;
    private FakeChannel peer;
    private final ArrayDeque<Frame> inbox = new ArrayDeque<>();
    private FrameHandler handler;
    private boolean paused;
    private boolean peerClosed;
    private boolean endDelivered;
    private volatile boolean open = true;
    final AtomicInteger pauses = new AtomicInteger();
    final AtomicInteger maxInbox = new AtomicInteger();

    private FakeChannel(ExecutorService reactor) {
        this.reactor = reactor;
    }

    /** A connected pair sharing one reactor thread; shut it down with {@link #shutdown}. */
    static List<FakeChannel> pair() {
        ExecutorService r = Executors.newSingleThreadExecutor(t -> new Thread(t, "fake-reactor"));
        FakeChannel a = new FakeChannel(r);
        FakeChannel b = new FakeChannel(r);
        a.peer = b;
        b.peer = a;
        return List.of(a, b);
    }

    void shutdown() throws InterruptedException {
        reactor.shutdown();
        if (!reactor.awaitTermination(5, TimeUnit.SECONDS)) {
            throw new IllegalStateException("fake reactor did not stop");
        }
    }

    @Override
    public CompletionStage<Void> send(byte[] payload, List<OwnedFd> fds) {
        CompletableFuture<Void> sent = new CompletableFuture<>();
        if (!open) {
            sent.completeExceptionally(new IllegalStateException("channel closed"));
            return sent;
        }
        List<OwnedFd> dups = new ArrayList<>(fds.size());
        for (OwnedFd f : fds) {
            dups.add(f.dup()); // SCM_RIGHTS installs new descriptors; the sender keeps its own
        }
        Frame frame = new Frame(payload, dups);
        reactor.execute(() -> {
            peer.arrive(frame);
            sent.complete(null);
        });
        return sent;
    }

    private void arrive(Frame f) {
        if (!open) {
            f.close();
            return;
        }
        inbox.add(f);
        maxInbox.accumulateAndGet(inbox.size(), Math::max);
        deliver();
    }

    private void deliver() {
        while (handler != null && !paused && !inbox.isEmpty()) {
            handler.onFrame(inbox.poll());
        }
        if (handler != null && peerClosed && inbox.isEmpty() && !endDelivered) {
            endDelivered = true;
            handler.onClosed(null);
        }
    }

    @Override
    public void start(FrameHandler h) {
        reactor.execute(() -> {
            handler = h;
            deliver();
        });
    }

    @Override
    public void pauseReading() {
        reactor.execute(() -> {
            if (!paused) {
                pauses.incrementAndGet();
            }
            paused = true;
        });
    }

    @Override
    public void resumeReading() {
        reactor.execute(() -> {
            paused = false;
            deliver();
        });
    }

    @Override
    public PeerCredentials peerCredentials() {
        throw new UnsupportedOperationException("no credentials in the fake");
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        if (!open) {
            return;
        }
        open = false;
        reactor.execute(() -> {
            Frame f;
            while ((f = inbox.poll()) != null) {
                f.close();
            }
            peer.reactorPeerClosed();
        });
    }

    private void reactorPeerClosed() {
        peerClosed = true;
        deliver();
    }
}
