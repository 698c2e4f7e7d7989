package dev.livetap.simulation.faults;

import dev.livetap.actors.migration.MigrationTransport;
import dev.livetap.actors.options.MigrationUri;
import dev.livetap.nativeio.ChannelLimits;
import dev.livetap.nativeio.UnixFrameChannel;
import dev.livetap.nativeio.FrameChannel;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

/**
 * The simulation's {@link MigrationTransport}: AF_UNIX path sockets of the in-memory OS and the
 * production framing layer ({@link UnixFrameChannel}), as the engine's transport does on the real
 * kernel, each channel wrapped in a {@link FaultyChannel} handed to {@code onChannel} first.
 */
public final class SimTransport implements MigrationTransport {
    private final Os os;
    private final Consumer<FaultyChannel> onChannel;
    private boolean listening;
    private OwnedFd listener;
    private Reactor.Registration listenerRegistration;
    private boolean refuseConnect;

    public SimTransport(Os os, Consumer<FaultyChannel> onChannel) {
        this.os = os;
        this.onChannel = onChannel;
    }

    public boolean listening() {
        return listening;
    }

    /** The next connect fails as if the target refused it (channel closed at setup). */
    public void refuseNextConnect() {
        refuseConnect = true;
    }

    @Override
    public CompletionStage<FrameChannel> connect(MigrationUri.Unix uri) {
        CompletableFuture<FrameChannel> f = new CompletableFuture<>();
        if (refuseConnect) {
            refuseConnect = false;
            f.completeExceptionally(new NativeException("connect", 111, "connect(" + uri.path()
                    + "): connection refused (ECONNREFUSED, simulated)"));
            return f;
        }
        try {
            OwnedFd s = os.unix().connect(Path.of(uri.path()));
            FaultyChannel ch = new FaultyChannel(UnixFrameChannel.open(os, s, ChannelLimits.DEFAULT), s);
            onChannel.accept(ch);
            f.complete(ch);
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
        }
        return f;
    }

    @Override
    public CompletionStage<FrameChannel> acceptOne(MigrationUri.Unix uri) {
        CompletableFuture<FrameChannel> f = new CompletableFuture<>();
        Path path = Path.of(uri.path());
        OwnedFd listener;
        try {
            listener = os.unix().listen(path, 0600);
            this.listener = listener;
        } catch (RuntimeException e) {
            f.completeExceptionally(e);
            return f;
        }
        Reactor.Registration[] reg = new Reactor.Registration[1];
        reg[0] = os.reactor().register(listener, Reactor.READ, ready -> {
            if (f.isDone()) {
                return; // cancelled: the listener is being closed
            }
            OwnedFd s = os.unix().accept(listener);
            if (s == null) {
                return;
            }
            reg[0].cancel();
            listener.close();
            os.unix().unlinkSocket(path);
            FaultyChannel ch = new FaultyChannel(UnixFrameChannel.open(os, s, ChannelLimits.DEFAULT), s);
            onChannel.accept(ch);
            f.complete(ch);
        });
        listenerRegistration = reg[0];
        listening = true;
        // a coordinator that gave up cancels the accept: stop listening at once, as the engine's transport does
        f.whenComplete((ch, e) -> {
            if (e instanceof java.util.concurrent.CancellationException) {
                close();
                os.unix().unlinkSocket(path);
            }
        });
        return f;
    }

    /** Stops listening if no source ever connected (the coordinator gave up waiting). */
    public void close() {
        if (listener != null && listener.isOpen()) {
            listenerRegistration.cancel();
            listener.close();
        }
    }
}
